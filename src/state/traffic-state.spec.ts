import { validReport } from '../../test/support/report-fixture';
import type { ReportV1 } from '../reports/report.types';
import { TrafficState, type RestoreTarget } from './traffic-state';

function recorder() {
  const applied: ReportV1[] = [];
  const firstTime: Array<[string, number]> = [];
  const seen: Array<[string, number, number, string]> = [];
  const target: RestoreTarget = {
    applied: (r) => applied.push(r),
    firstTime: (id, seq) => firstTime.push([id, seq]),
    seen: (identity, at) =>
      seen.push([identity.reporter.id, at, identity.reporter.seq, identity.source.pod]),
  };
  return { applied, firstTime, seen, target };
}

describe('TrafficState', () => {
  const report = (id: string, seq: number, route = 'api') =>
    validReport({ reporter: { id, seq }, counts: [{ ...validReport().counts[0], route }] });

  it('hands back cumulative totals, the exactly-once window and last-seen times, through JSON', () => {
    const state = new TrafficState(100, 100);
    state.apply(report('aaaaaaaaaaaaaaaa', 1), 1_000);
    state.apply(report('aaaaaaaaaaaaaaaa', 3), 2_000);
    state.apply(report('bbbbbbbbbbbbbbbb', 7, 'other'), 3_000);

    const copy = new TrafficState(100, 100);
    copy.load(JSON.parse(JSON.stringify(state)) as Parameters<TrafficState['load']>[0]);
    const { applied, firstTime, seen, target } = recorder();
    copy.restoreInto(target);

    expect(applied).toHaveLength(1); // one synthetic report per source
    expect(
      applied[0].counts.map((c) => [
        c.route,
        c.n,
        c.duration_buckets[0],
        c.duration_sum_ms,
        c.bytes_out,
      ]),
    ).toEqual([
      ['api', 6, 2, 24_000, 1_800],
      ['other', 3, 1, 12_000, 900],
    ]);
    expect(firstTime).toEqual([
      ['aaaaaaaaaaaaaaaa', 1],
      ['aaaaaaaaaaaaaaaa', 3],
      ['bbbbbbbbbbbbbbbb', 7],
    ]);
    // with the identity each last reported, so the status page shows them after a restart
    expect(seen).toEqual([
      ['aaaaaaaaaaaaaaaa', 2_000, 3, 'shop-7d9f-abcde'],
      ['bbbbbbbbbbbbbbbb', 3_000, 7, 'shop-7d9f-abcde'],
    ]);
  });

  it('stays bounded: label sets beyond MAX_SERIES go to __overflow__, reporters beyond MAX_REPORTERS are forgotten', () => {
    const state = new TrafficState(2, 2);
    for (let i = 0; i < 5; i++) state.apply(report(`${i}`.repeat(16), 1, `route-${i}`), i);
    const { applied, firstTime, target } = recorder();
    state.restoreInto(target);
    expect(applied.flatMap((r) => r.counts.map((c) => [r.source.workload, c.route, c.n]))).toEqual([
      ['shop', 'route-0', 3],
      ['shop', 'route-1', 3],
      ['__overflow__', '__overflow__', 9],
    ]);
    expect(firstTime.map(([id]) => id)).toEqual(['3333333333333333', '4444444444444444']);
  });

  it('keeps other report versions generically: totals per key add element-wise, windows as for v1, through JSON', () => {
    const state = new TrafficState(2, 100);
    const who = (id: string, seq: number) => ({
      reporter: { id, seq },
      source: { workload: 'productpage-v1', namespace: 'bookinfo', pod: 'p-1' },
    });
    state.applyVersion(2, who('cccccccccccccccc', 1), [['k1', [1, 2, 0.5]]], 1_000);
    state.applyVersion(
      2,
      who('cccccccccccccccc', 2),
      [
        ['k1', [2, 0, 0.25]],
        ['k2', [5]],
      ],
      2_000,
    );
    state.applyVersion(
      2,
      who('cccccccccccccccc', 3),
      [
        ['k3', [9]],
        ['k1', [1, 1, 1]],
      ],
      3_000,
    ); // k3: past the bound
    state.applyVersion(3, who('dddddddddddddddd', 1), [['k1', [7]]], 4_000);

    const copy = new TrafficState(2, 100);
    copy.load(JSON.parse(JSON.stringify(state)) as Parameters<TrafficState['load']>[0]);
    expect(copy.versionTotals(2)).toEqual([
      ['k1', [4, 3, 1.75]],
      ['k2', [5]],
    ]);
    expect(copy.versionTotals(3)).toEqual([['k1', [7]]]);
    expect(copy.versionTotals(4)).toEqual([]);
    const { applied, firstTime, seen, target } = recorder();
    copy.restoreInto(target);
    expect(applied).toEqual([]); // no v1 totals
    expect(firstTime).toEqual([
      ['cccccccccccccccc', 1],
      ['cccccccccccccccc', 2],
      ['cccccccccccccccc', 3],
      ['dddddddddddddddd', 1],
    ]);
    expect(seen.map(([id, at]) => [id, at])).toEqual([
      ['cccccccccccccccc', 3_000],
      ['dddddddddddddddd', 4_000],
    ]);
  });

  it('loads a snapshot written before other versions were kept', () => {
    const state = new TrafficState(10, 10);
    state.load({ series: [], reporters: [] });
    expect(state.versionTotals(2)).toEqual([]);
  });

  it('with a TTL, forgets idle label sets (v1 and other versions) on update, expire() and through JSON', () => {
    const identity = (seq: number) => ({
      reporter: { id: 'eeeeeeeeeeeeeeee', seq },
      source: { workload: 'w', namespace: 'n', pod: 'p' },
    });
    const state = new TrafficState(10, 10, 1_000);
    state.apply(report('aaaaaaaaaaaaaaaa', 1, 'old'), 0);
    state.apply(report('aaaaaaaaaaaaaaaa', 2, 'again'), 0);
    state.applyVersion(
      2,
      identity(1),
      [
        ['k-old', [1]],
        ['k-again', [1]],
      ],
      0,
    );
    state.apply(report('aaaaaaaaaaaaaaaa', 3, 'again'), 1_000); // idle for the TTL: from zero
    state.applyVersion(2, identity(2), [['k-again', [5]]], 1_000);
    expect(state.versionTotals(2)).toEqual([
      ['k-old', [1]],
      ['k-again', [5]],
    ]);

    const copy = new TrafficState(10, 10, 1_000);
    copy.load(JSON.parse(JSON.stringify(state)) as Parameters<TrafficState['load']>[0]);
    copy.expire(1_500, true); // "old" was last updated at 0: gone; "again" is kept, refreshed
    expect(copy.versionTotals(2)).toEqual([['k-again', [5]]]);
    expect(copy.seriesCount).toBe(1);
    const { applied, target } = recorder();
    copy.restoreInto(target);
    expect(applied[0].counts.map((c) => [c.route, c.n])).toEqual([['again', 3]]);
    copy.expire(2_400); // refreshed at 1,500: still within the TTL
    expect(copy.seriesCount).toBe(1);
    copy.expire(2_500);
    expect(copy.seriesCount).toBe(0);
    expect(copy.versionTotals(2)).toEqual([]);
  });
});
