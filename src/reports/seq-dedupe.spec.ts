import { SEQ_WINDOW, SeqDedupe } from './seq-dedupe';

describe('SeqDedupe', () => {
  it('says true once per (id, seq), in any order', () => {
    const d = new SeqDedupe(10, 0);
    expect(d.firstTime('a', 1, 0)).toBe(true);
    expect(d.firstTime('a', 1, 0)).toBe(false);
    expect(d.firstTime('a', 3, 0)).toBe(true);
    expect(d.firstTime('a', 2, 0)).toBe(true);
    expect(d.firstTime('a', 2, 0)).toBe(false);
    expect(d.firstTime('a', 3, 0)).toBe(false);
    expect(d.firstTime('b', 1, 0)).toBe(true);
  });

  it('remembers a window of seqs; older ones count as seen', () => {
    const d = new SeqDedupe(10, 0);
    expect(d.firstTime('a', 5, 0)).toBe(true);
    expect(d.firstTime('a', 5 + SEQ_WINDOW, 0)).toBe(true);
    // 5 left the window: a re-send of it is not applied again.
    expect(d.firstTime('a', 5, 0)).toBe(false);
    // The slot seq 5 used is free for its successor in the ring.
    expect(d.firstTime('a', 5 + SEQ_WINDOW - 1, 0)).toBe(true);
    expect(d.firstTime('a', 6, 0)).toBe(true);
  });

  it('copes with huge seq jumps in bounded time', () => {
    const d = new SeqDedupe(10, 0);
    expect(d.firstTime('a', 1, 0)).toBe(true);
    expect(d.firstTime('a', Number.MAX_SAFE_INTEGER, 0)).toBe(true);
    expect(d.firstTime('a', Number.MAX_SAFE_INTEGER, 0)).toBe(false);
    expect(d.firstTime('a', Number.MAX_SAFE_INTEGER - 1, 0)).toBe(true);
  });

  it('keeps at most maxReporters, forgetting the least recently seen', () => {
    const d = new SeqDedupe(2, 0);
    d.firstTime('a', 1, 0);
    d.firstTime('b', 1, 1);
    d.firstTime('a', 2, 2); // a is now more recent than b
    d.firstTime('c', 1, 3); // evicts b
    expect(d.size).toBe(2);
    expect(d.firstTime('a', 1, 4)).toBe(false);
    expect(d.firstTime('b', 1, 5)).toBe(true); // forgotten, so seen as new (and evicts c)
    expect(d.size).toBe(2);
  });

  it('forgets reporters idle for the TTL', () => {
    const d = new SeqDedupe(10, 1000);
    d.firstTime('a', 1, 0);
    d.firstTime('b', 1, 500);
    d.expire(999);
    expect(d.size).toBe(2);
    d.expire(1000);
    expect(d.size).toBe(1);
    d.firstTime('b', 2, 1400);
    d.expire(2000);
    expect(d.size).toBe(1);
    d.expire(2400);
    expect(d.size).toBe(0);
  });

  it('tooFarAhead: a seq more than maxGap beyond a known reporter is named, and nothing is recorded', () => {
    const d = new SeqDedupe(10, 0, 100);
    expect(d.tooFarAhead('a', 2 ** 53 - 1)).toBeUndefined(); // unknown reporter: any seq
    d.firstTime('a', 5, 0);
    expect(d.tooFarAhead('a', 105)).toBeUndefined();
    expect(d.tooFarAhead('a', 106)).toBe(5);
    expect(d.tooFarAhead('a', 2 ** 53 - 1)).toBe(5);
    expect(d.firstTime('a', 6, 0)).toBe(true);
  });
});
