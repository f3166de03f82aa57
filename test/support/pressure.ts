import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { BUCKET_BOUNDS_MS } from '../../src/reports/report-validator';
import type { ReportV1 } from '../../src/reports/report.types';

/** Resident memory of process `pid`, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** A value of exactly `length` characters, unique per `seed`. */
export const longValue = (seed: string, length: number): string =>
  `${seed}-`.padEnd(length, 'x').slice(0, length);

/**
 * A structured report as hostile as the schema allows: 1024 counts, each with its own long route,
 * from workload `workload`; every count is a new series in each observed-traffic family.
 */
export function wideReport(workload: string, seq: number, id = '0123456789abcdef'): ReportV1 {
  return {
    v: 1,
    reporter: { id, seq },
    source: {
      workload: longValue(workload, 128),
      namespace: longValue('ns', 128),
      pod: longValue(`${workload}-pod`, 128),
    },
    window: { start_ms: 1_700_000_000_000, end_ms: 1_700_000_005_000 },
    buckets_ms: [...BUCKET_BOUNDS_MS],
    counts: Array.from({ length: 1024 }, (_, i) => ({
      method: 'GET',
      code: '2xx' as const,
      route: longValue(`${workload}-route-${i}`, 128),
      n: 1,
      duration_buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      duration_sum_ms: 1,
      bytes_in: 1,
      bytes_out: 1,
    })),
  };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
export async function inParallel(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Opens a connection, writes `requests` GETs of `path` back to back, and never reads a byte. */
export function pipelineUnread(port: number, path: string, requests: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause();
      const one = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      socket.write(one.repeat(requests), () => resolve(socket));
    });
    socket.on('error', reject);
  });
}
