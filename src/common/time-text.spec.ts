import { isoTimeFormatter, pinoIsoTime, seedTime, seedTimeFormatter } from './time-text';

describe('time-text', () => {
  const at = Date.UTC(2026, 11, 1, 20, 5, 9, 123);

  it("writes the seed's date in local time, to the second", () => {
    const d = new Date(at);
    const expected = [d.getFullYear(), d.getMonth() + 1, d.getDate()]
      .map((n) => String(n).padStart(2, '0'))
      .join('-');
    expect(seedTime(at)).toMatch(new RegExp(`^${expected} \\d\\d:\\d\\d:09$`));
  });

  it('answers each millisecond with its own ISO time, the same text object when asked again', () => {
    const iso = isoTimeFormatter();
    const first = iso(at);
    expect(first).toBe('2026-12-01T20:05:09.123Z');
    expect(iso(at)).toBe(first);
    expect(iso(at + 1)).toBe('2026-12-01T20:05:09.124Z');
    expect(iso(at)).toBe('2026-12-01T20:05:09.123Z');
  });

  it("changes the seed's date only when the second changes", () => {
    const seed = seedTimeFormatter();
    expect(seed(at)).toBe(seedTime(at));
    expect(seed(at + 876)).toBe(seedTime(at)); // 20:05:09.999
    expect(seed(at + 877)).toBe(seedTime(at + 1000)); // 20:05:10.000
    expect(seed(at + 877)).not.toBe(seed(at));
  });

  it('gives pino its time field for now', () => {
    jest.useFakeTimers({ now: at });
    try {
      const time = pinoIsoTime();
      expect(time()).toBe(',"time":"2026-12-01T20:05:09.123Z"');
      jest.setSystemTime(at + 5);
      expect(time()).toBe(',"time":"2026-12-01T20:05:09.128Z"');
    } finally {
      jest.useRealTimers();
    }
  });
});
