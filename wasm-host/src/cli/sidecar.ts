#!/usr/bin/env node
import { parseSidecarArgs, USAGE, UsageError } from '../sidecar/options';
import { startSidecar } from '../sidecar/server';

async function main(): Promise<void> {
  let options;
  try {
    options = parseSidecarArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }
  let sidecar;
  try {
    sidecar = await startSidecar(options, (line) => console.log(line));
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  const { host } = options.listen;
  console.log(
    `sidecar listening on ${options.tcpUpstream ? 'tcp' : 'http'}://${host}:${sidecar.port} admin http://${options.admin.host}:${sidecar.adminPort}` +
      ` upstream ${options.upstream.origin} plugin ${options.wasm ?? '(none)'} concurrency ${options.concurrency}`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`sidecar stopping (${signal})`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    void sidecar.close().then(() => {
      console.log('sidecar stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
