import { TextTotals, type TextApplied, type TextSnapshot } from './text-totals';

const report = (msg: string, atMs: number, params: Array<[string, string]> = []): TextApplied => ({
  msg,
  atMs,
  bodyBytes: 100,
  params,
});

describe('TextTotals', () => {
  it('keeps counts, params, body sizes and rejections through JSON', () => {
    const totals = new TextTotals(10, 0, [64, 256]);
    totals.apply(report('a', 1_000, [['pod', 'p1']]));
    totals.apply(report('a', 2_000, [['pod', 'p1']]));
    totals.apply({ ...report('b', 3_000), bodyBytes: 1000 });
    totals.rejectedReport('missing_header');
    const copy = new TextTotals(10, 0, [64, 256]);
    copy.load(JSON.parse(JSON.stringify(totals)) as TextSnapshot);
    expect(copy.restore()).toEqual({
      reports: [
        ['a', 2, 2_000],
        ['b', 1, 3_000],
      ],
      params: [['pod', 'p1', 2]],
      body: { buckets: [0, 2, 1], sum: 1200, count: 3 },
      rejected: [['missing_header', 1]],
    });
  });

  it('past maxSeries label sets per metric, counts go to one __overflow__ set', () => {
    const totals = new TextTotals(2, 0, [64]);
    for (const msg of ['a', 'b', 'c', 'd']) totals.apply(report(msg, 1, [['k', msg]]));
    const kept = totals.restore();
    expect(kept.reports).toEqual([
      ['a', 1, 1],
      ['b', 1, 1],
      ['__overflow__', 2, 1],
    ]);
    expect(kept.params).toEqual([
      ['k', 'a', 1],
      ['k', 'b', 1],
      ['__overflow__', '__overflow__', 2],
    ]);
  });

  it('forgets a set idle for the TTL: on its next update, and on expire()', () => {
    const totals = new TextTotals(10, 1_000, [64]);
    totals.apply(report('a', 0));
    totals.apply(report('b', 0));
    totals.apply(report('a', 1_000)); // idle for the TTL: starts from zero
    expect(totals.restore().reports).toEqual([
      ['b', 1, 0],
      ['a', 1, 1_000],
    ]);
    totals.expire(1_500, true); // b expired; a left, its TTL refreshed (not its last-received time)
    expect(totals.restore().reports).toEqual([['a', 1, 1_000]]);
    totals.expire(2_400);
    expect(totals.restore().reports).toHaveLength(1);
    totals.expire(2_500);
    expect(totals.restore().reports).toHaveLength(0);
    expect(totals.restore().body.count).toBe(3); // no labels: never expires
  });
});
