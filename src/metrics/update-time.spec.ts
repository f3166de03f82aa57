import { UpdateTime } from './update-time';

describe('UpdateTime', () => {
  it("answers the clock's time, and a report's receive time while that report is applied", () => {
    let clockMs = 1_000;
    const time = new UpdateTime({ now: () => clockMs });
    expect(time.now()).toBe(1_000);
    const inside = time.during(500, () => {
      clockMs = 2_000; // the clock moves on while the report is applied: its updates keep its time
      return [time.now(), time.during(700, () => time.now()), time.now()];
    });
    expect(inside).toEqual([500, 700, 500]);
    expect(time.now()).toBe(2_000);
  });

  it('goes back to the clock when the report throws', () => {
    const time = new UpdateTime({ now: () => 42 });
    expect(() =>
      time.during(7, () => {
        throw new Error('invalid');
      }),
    ).toThrow('invalid');
    expect(time.now()).toBe(42);
  });
});
