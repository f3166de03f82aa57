import { RenderCoalescer } from './render-coalescer';

describe('RenderCoalescer', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  function coalescer(minIntervalMs: number) {
    let renders = 0;
    const pending: Array<() => void> = [];
    const c = new RenderCoalescer(
      () =>
        new Promise<number>((resolve) => {
          const n = ++renders;
          pending.push(() => resolve(n));
        }),
      minIntervalMs,
      () => Date.now(),
    );
    return { c, finish: () => pending.shift()?.(), renders: () => renders };
  }

  it('gives every request that arrives during a render that render', async () => {
    const { c, finish, renders } = coalescer(0);
    const all = [c.get(), c.get(), c.get()];
    expect(renders()).toBe(1);
    finish();
    expect(await Promise.all(all)).toEqual([1, 1, 1]);
  });

  it('starts the next render no sooner than minIntervalMs after the last ended, shared', async () => {
    const { c, finish, renders } = coalescer(250);
    const first = c.get();
    finish();
    expect(await first).toBe(1);
    const later = [c.get(), c.get()];
    expect(renders()).toBe(1);
    await jest.advanceTimersByTimeAsync(249);
    expect(renders()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(renders()).toBe(2);
    finish();
    expect(await Promise.all(later)).toEqual([2, 2]);
    // Long after: a request renders at once.
    await jest.advanceTimersByTimeAsync(1000);
    const fresh = c.get();
    expect(renders()).toBe(3);
    finish();
    expect(await fresh).toBe(3);
  });

  it('waits as long as the last render took when that is longer than minIntervalMs', async () => {
    const { c, finish, renders } = coalescer(100);
    const first = c.get();
    await jest.advanceTimersByTimeAsync(400); // a slow render: 400 ms
    finish();
    await first;
    const next = c.get();
    await jest.advanceTimersByTimeAsync(399);
    expect(renders()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(renders()).toBe(2);
    finish();
    expect(await next).toBe(2);
  });

  it('a failed render fails its requests, and the next request renders again', async () => {
    let calls = 0;
    const c = new RenderCoalescer(
      () => (++calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve(calls)),
      0,
      () => Date.now(),
    );
    await expect(c.get()).rejects.toThrow('boom');
    expect(await c.get()).toBe(2);
  });
});
