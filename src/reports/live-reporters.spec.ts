import { LiveReporters, type ReporterIdentity } from './live-reporters';

/** A report from reporter `id` (only the fields LiveReporters reads). */
const from = (id: string, seq = 1, workload = 'shop'): ReporterIdentity => ({
  reporter: { id, seq },
  source: { workload, namespace: 'default', pod: `${workload}-pod` },
});

describe('LiveReporters', () => {
  it('counts reporters seen within the window, whatever the dedupe memory keeps', () => {
    const clock = { ms: 1_000_000 };
    const live = new LiveReporters(60_000, 10);
    live.seen(from('a'), clock.ms);
    clock.ms += 30_000;
    live.seen(from('b'), clock.ms);
    expect(live.count(clock.ms)).toBe(2);
    clock.ms += 29_999;
    expect(live.count(clock.ms)).toBe(2);
    clock.ms += 1; // a was seen exactly 60 s ago: out of the window
    expect(live.count(clock.ms)).toBe(1);
    live.seen(from('b'), clock.ms); // a re-send keeps b alive
    clock.ms += 59_999;
    expect(live.count(clock.ms)).toBe(1);
    clock.ms += 1;
    expect(live.count(clock.ms)).toBe(0);
    live.seen(from('a'), clock.ms); // a reporter that comes back is live again
    expect(live.count(clock.ms)).toBe(1);
  });

  it('replaces restarted reporters instead of piling them up', () => {
    const clock = { ms: 0 };
    const live = new LiveReporters(60_000, 1000);
    // One sidecar restarting every 10 s: a new random id each time, 100 ids in all.
    for (let restart = 0; restart < 100; restart++) {
      live.seen(from(`vm-${restart}`), clock.ms);
      clock.ms += 10_000;
    }
    // Now is 1000 s: the ids seen at 950..990 s are the ones within the last 60 s.
    expect(live.count(clock.ms)).toBe(5);
  });

  it('keeps at most maxReporters, forgetting the least recently seen', () => {
    const live = new LiveReporters(60_000, 2);
    live.seen(from('a'), 0);
    live.seen(from('b'), 1);
    live.seen(from('a'), 2);
    live.seen(from('c'), 3); // forgets b
    expect(live.count(3)).toBe(2);
    live.seen(from('b'), 4); // forgets a, now the least recently seen (at 2)
    expect(live.count(4)).toBe(2);
    expect(live.count(60_003)).toBe(1); // c (3) is out, b (4) is in
  });

  it('remembers each live reporter: identity, last seen, highest seq, duplicates; stalest first', () => {
    const live = new LiveReporters(60_000, 10);
    live.seen(from('a', 1, 'shop'), 1_000);
    live.seen(from('b', 7, 'cart'), 2_000);
    live.seen(from('a', 2, 'shop-v2'), 3_000);
    live.seen(from('a', 1, 'shop-v2'), 4_000, true); // a late re-send: seq stays 2
    expect(live.list(4_000, 10)).toEqual([
      {
        id: 'b',
        workload: 'cart',
        namespace: 'default',
        pod: 'cart-pod',
        lastSeenMs: 2_000,
        lastSeq: 7,
        duplicates: 0,
      },
      {
        id: 'a',
        workload: 'shop-v2',
        namespace: 'default',
        pod: 'shop-v2-pod',
        lastSeenMs: 4_000,
        lastSeq: 2,
        duplicates: 1,
      },
    ]);
    expect(live.list(4_000, 1).map((r) => r.id)).toEqual(['b']);
    expect(live.list(62_000, 10).map((r) => r.id)).toEqual(['a']); // b went out of the window
    const [copy] = live.list(62_000, 10);
    copy.duplicates = 99;
    expect(live.list(62_000, 10)[0].duplicates).toBe(1);
  });

  it('stays bounded with details: a flood of ids keeps maxReporters entries', () => {
    const live = new LiveReporters(60_000, 100);
    for (let i = 0; i < 10_000; i++) live.seen(from(`id-${i}`, i + 1, 'w'.repeat(253)), i);
    expect(live.count(10_000)).toBe(100);
    expect(live.list(10_000, 1000).map((r) => r.id)[0]).toBe('id-9900');
  });
});
