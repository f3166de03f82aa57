import { LiveReporters } from './live-reporters';

describe('LiveReporters', () => {
  it('counts reporters seen within the window, whatever the dedupe memory keeps', () => {
    const clock = { ms: 1_000_000 };
    const live = new LiveReporters(60_000, 10);
    live.seen('a', clock.ms);
    clock.ms += 30_000;
    live.seen('b', clock.ms);
    expect(live.count(clock.ms)).toBe(2);
    clock.ms += 29_999;
    expect(live.count(clock.ms)).toBe(2);
    clock.ms += 1; // a was seen exactly 60 s ago: out of the window
    expect(live.count(clock.ms)).toBe(1);
    live.seen('b', clock.ms); // a re-send keeps b alive
    clock.ms += 59_999;
    expect(live.count(clock.ms)).toBe(1);
    clock.ms += 1;
    expect(live.count(clock.ms)).toBe(0);
    live.seen('a', clock.ms); // a reporter that comes back is live again
    expect(live.count(clock.ms)).toBe(1);
  });

  it('replaces restarted reporters instead of piling them up', () => {
    const clock = { ms: 0 };
    const live = new LiveReporters(60_000, 1000);
    // One sidecar restarting every 10 s: a new random id each time, 100 ids in all.
    for (let restart = 0; restart < 100; restart++) {
      live.seen(`vm-${restart}`, clock.ms);
      clock.ms += 10_000;
    }
    // Now is 1000 s: the ids seen at 950..990 s are the ones within the last 60 s.
    expect(live.count(clock.ms)).toBe(5);
  });

  it('keeps at most maxReporters, forgetting the least recently seen', () => {
    const live = new LiveReporters(60_000, 2);
    live.seen('a', 0);
    live.seen('b', 1);
    live.seen('a', 2);
    live.seen('c', 3); // forgets b
    expect(live.count(3)).toBe(2);
    live.seen('b', 4); // forgets a, now the least recently seen (at 2)
    expect(live.count(4)).toBe(2);
    expect(live.count(60_003)).toBe(1); // c (3) is out, b (4) is in
  });
});
