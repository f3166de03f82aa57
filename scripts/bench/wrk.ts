/**
 * wrk (Debian's `wrk`) as the bench's load generator: written in C, one thread, so it takes far less
 * of the two cores than a Node load generator would. A request is described by a small Lua script.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkRequest {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
  /** Instead of body: a body per request, `{seq}` replaced by 1, 2, 3... (wrk runs one thread). */
  bodyTemplate?: string;
}

export interface WrkResult {
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
  errors: number;
}

const lua = (value: string): string => JSON.stringify(value); // a JSON string is a Lua string literal here

function script(request: WrkRequest): string {
  const lines = [`wrk.method = ${lua(request.method)}`];
  if (request.body !== undefined) lines.push(`wrk.body = ${lua(request.body)}`);
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`);
  }
  if (request.bodyTemplate !== undefined) {
    const [head, tail = ''] = request.bodyTemplate.split('{seq}');
    lines.push(
      `local head, tail, seq = ${lua(head)}, ${lua(tail)}, 0`,
      'request = function()',
      '  seq = seq + 1',
      '  return wrk.format(nil, nil, nil, head .. seq .. tail)',
      'end',
    );
  }
  return `${lines.join('\n')}\n`;
}

const MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function latencyMs(output: string, percentile: string): number {
  const match = new RegExp(`^\\s+${percentile}%\\s+([0-9.]+)(us|ms|s)\\s*$`, 'm').exec(output);
  return match ? Number(match[1]) * MS[match[2]] : NaN;
}

/** Runs wrk against `request` with `connections` for `seconds`; rejects if wrk fails. */
export function runWrk(
  request: WrkRequest,
  connections: number,
  seconds: number,
): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-wrk-'));
  const file = join(dir, 'request.lua');
  writeFileSync(file, script(request));
  return new Promise<WrkResult>((resolve, reject) => {
    const child = spawn(
      'wrk',
      [
        '-t1',
        `-c${connections}`,
        `-d${seconds}s`,
        '--timeout',
        '10s',
        '--latency',
        '-s',
        file,
        request.url,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', (err) => reject(new Error(`wrk: ${err.message} (apt-get install wrk)`)));
    child.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      const rps = /Requests\/sec:\s+([0-9.]+)/.exec(output);
      const total = /([0-9]+) requests in/.exec(output);
      if (code !== 0 || !rps || !total) {
        reject(new Error(`wrk exited ${code}:\n${output}`));
        return;
      }
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
        output,
      );
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
      const errors =
        (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) +
        (non2xx ? Number(non2xx[1]) : 0);
      resolve({
        rps: Number(rps[1]),
        requests: Number(total[1]),
        p50Ms: latencyMs(output, '50'),
        p99Ms: latencyMs(output, '99'),
        errors,
      });
    });
  });
}
