import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ConnectionSink } from '../src';
import { stopAllProcesses } from '../../test/support/child-process';
import { waitFor } from '../../test/support/wait-for';
import { hostTracker, messages } from './support/hosts';
import { startSidecarCli } from './support/sidecar-cli';
import { tcpPlugin } from './support/tcp-plugin';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

let wasm: Uint8Array;
let echo: Server;
let echoPort: number;
const echoSockets = new Set<Socket>();
beforeAll(async () => {
  wasm = await tcpPlugin();
  echo = createServer((s) => {
    echoSockets.add(s);
    s.on('close', () => echoSockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  await stopAllProcesses();
  for (const s of echoSockets) s.destroy();
  await new Promise((r) => echo.close(r));
});

function recordingSink() {
  const up: string[] = [];
  const down: string[] = [];
  const events: string[] = [];
  const sink: ConnectionSink = {
    toUpstream: (c) => void up.push(c.toString()),
    toDownstream: (c) => void down.push(c.toString()),
    endUpstream: () => void events.push('end upstream'),
    endDownstream: () => void events.push('end downstream'),
    closeDownstream: () => void events.push('close downstream'),
    closeUpstream: () => void events.push('close upstream'),
  };
  return { sink, up, down, events };
}

describe('network filters (library)', () => {
  it('drives the TCP lifecycle: StopIteration keeps bytes and shows them again with the next read', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const { sink, up, down, events } = recordingSink();
    const conn = host.openConnection(sink, { sourceAddress: '10.0.0.7:4242' });
    expect(conn.start()).toBe(true);
    conn.downstreamData(Buffer.from('hel'), false);
    conn.downstreamData(Buffer.from('lo\n'), false);
    conn.upstreamData(Buffer.from('>hello\n'), false);
    conn.upstreamData(Buffer.alloc(0), true);
    conn.downstreamConnectionClosed();
    await conn.done;
    expect(up).toEqual(['>hello\n']);
    expect(down).toEqual(['>hello\n']);
    expect(events).toEqual(['end downstream']);
    expect(messages(host)).toEqual([
      'new 2',
      '10.0.0.7:4242',
      ...['down 3', 'eos 0', 'down 6', 'eos 0'],
      ...['up 7', 'up 0', 'uclose 0'],
      'dclose 2',
      ...['done 2', 'log 2', 'delete 2'],
    ]);
    expect(host.metrics().get('connections')).toBe(1);
  });

  it('closes the downstream when the plugin calls proxy_close_stream(DOWNSTREAM)', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const { sink, up, events } = recordingSink();
    const conn = host.openConnection(sink);
    conn.start();
    conn.downstreamData(Buffer.from('quit\n'), false);
    conn.downstreamConnectionClosed();
    await conn.done;
    expect(up).toEqual([]);
    expect(events).toEqual(['close downstream']);
  });
});

describe('sidecar --tcp', () => {
  it('echoes through the network filter per VM, and runs the close callbacks when the client leaves', async () => {
    const { proc, url } = await startSidecarCli([
      '--tcp',
      '--wasm',
      join(writeWasm(), 'tcp-plugin.wasm'),
      '--upstream',
      `tcp://127.0.0.1:${echoPort}`,
      '--concurrency',
      '2',
    ]);
    try {
      const { hostname, port } = new URL(url.replace('tcp:', 'http:'));
      for (let i = 0; i < 2; i++) {
        const client = connect(Number(port), hostname);
        await once(client, 'connect');
        let got = '';
        client.on('data', (c: Buffer) => (got += c.toString()));
        client.write('hel');
        client.write('lo\n');
        await waitFor('the echo', () => got === '>hello\n');
        client.end();
        await once(client, 'close');
      }
      await waitFor(
        'both connections finished',
        () => proc.lines.filter((l) => / wasm log: delete \d+$/.test(l)).length === 2,
      );
      const workers = proc.lines
        .filter((l) => / wasm log: new \d+$/.test(l))
        .map((l) => /\[worker (\d)\]/.exec(l)?.[1]);
      expect(workers.sort()).toEqual(['0', '1']);
      expect(proc.lines.some((l) => l.endsWith('wasm log: dclose 2'))).toBe(true);
    } finally {
      const exit = await proc.stop('SIGTERM');
      expect(exit.code).toBe(0);
    }
  });
});

function writeWasm(): string {
  const dir = join(__dirname, 'fixtures', 'build');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tcp-plugin.wasm'), wasm);
  return dir;
}
