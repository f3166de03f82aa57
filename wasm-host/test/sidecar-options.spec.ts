import { parseSidecarArgs, UsageError } from '../src/sidecar/options';

const parse = (...args: string[]) => {
  const options = parseSidecarArgs(['--upstream', 'http://127.0.0.1:8080', ...args]);
  if (options === 'help') throw new Error('unexpected help');
  return options;
};

describe('--upstream-timeout-ms', () => {
  it("defaults to Envoy's 15 s route timeout", () => {
    expect(parse().upstreamTimeoutMs).toBe(15_000);
  });

  it('takes milliseconds, 0 meaning no limit', () => {
    expect(parse('--upstream-timeout-ms', '250').upstreamTimeoutMs).toBe(250);
    expect(parse('--upstream-timeout-ms', '0').upstreamTimeoutMs).toBe(0);
  });

  it.each(['soon', '1.5', '', '1e3', '10000000000'])('rejects %j naming the flag', (value) => {
    expect(() => parse('--upstream-timeout-ms', value)).toThrow(UsageError);
    expect(() => parse('--upstream-timeout-ms', value)).toThrow('--upstream-timeout-ms');
  });
});

describe('containment, streaming and TCP flags', () => {
  it("defaults to worker threads, a 10 s watchdog, Envoy's 1 GiB memory cap, 1 MiB buffers and 5 min idle timeout", () => {
    const o = parse();
    expect(o).toMatchObject({
      workerThreads: true,
      watchdogMs: 10_000,
      maxMemoryBytes: 1 << 30,
      bufferLimitBytes: 1 << 20,
      streamIdleTimeoutMs: 300_000,
    });
    expect(o.tcpUpstream).toBeUndefined();
  });

  it('takes each of them', () => {
    const o = parse(
      '--in-process',
      '--watchdog-ms',
      '0',
      '--max-memory-bytes',
      '4194304',
      '--buffer-limit-bytes',
      '1000',
      '--stream-idle-timeout-ms',
      '250',
    );
    expect(o).toMatchObject({
      workerThreads: false,
      watchdogMs: 0,
      maxMemoryBytes: 4194304,
      bufferLimitBytes: 1000,
      streamIdleTimeoutMs: 250,
    });
  });

  it('--tcp takes the upstream as HOST:PORT or tcp://HOST:PORT', () => {
    for (const upstream of ['127.0.0.1:5432', 'tcp://127.0.0.1:5432']) {
      const o = parseSidecarArgs(['--tcp', '--upstream', upstream]);
      expect(o !== 'help' && o.tcpUpstream).toEqual({ host: '127.0.0.1', port: 5432 });
    }
    expect(() => parseSidecarArgs(['--tcp', '--upstream', 'http://x'])).toThrow('--upstream');
  });

  it.each([
    '--watchdog-ms',
    '--max-memory-bytes',
    '--buffer-limit-bytes',
    '--stream-idle-timeout-ms',
  ])('rejects a non-integer %s naming the flag', (flag) => {
    expect(() => parse(flag, 'lots')).toThrow(flag);
  });
});

describe('--cluster', () => {
  it('takes one URL, a comma-separated list, or the same name again (endpoints added)', () => {
    expect(
      parse(
        '--cluster',
        'a=http://127.0.0.1:1',
        '--cluster',
        'm=http://127.0.0.1:2,http://127.0.0.1:3',
        '--cluster',
        'm=http://127.0.0.1:4',
      ).clusters,
    ).toEqual({
      a: ['http://127.0.0.1:1'],
      m: ['http://127.0.0.1:2', 'http://127.0.0.1:3', 'http://127.0.0.1:4'],
    });
  });

  it.each([
    ['m', 'expected NAME=URL[,URL...]'],
    ['m=ftp://x', 'only http://'],
    ['m=http://127.0.0.1:2,', 'is not a URL'],
    ['__proto__=http://x', 'not an allowed name'],
  ])('refuses %s', (value, message) => {
    expect(() => parse('--cluster', value)).toThrow(message);
  });

  it('refuses an endpoint listed twice for one name', () => {
    expect(() => parse('--cluster', 'm=http://x:1', '--cluster', 'm=http://x:1')).toThrow(
      'lists http://x:1 twice',
    );
  });
});

describe('--peer-metadata-json (TCP: the peer Istio would learn by its TCP metadata exchange)', () => {
  const tcp = (...args: string[]) => {
    const o = parseSidecarArgs(['--tcp', '--upstream', '127.0.0.1:5432', ...args]);
    if (o === 'help') throw new Error('unexpected help');
    return o;
  };

  it('takes a JSON object', () => {
    const o = tcp(
      '--peer-metadata-json',
      '{"WORKLOAD_NAME":"reviews-v1","LABELS":{"app":"reviews"}}',
    );
    expect(o.istio.peerMetadata).toEqual({
      WORKLOAD_NAME: 'reviews-v1',
      LABELS: { app: 'reviews' },
    });
  });

  it.each([
    ['not JSON', ['--peer-metadata-json', '{']],
    ['not an object', ['--peer-metadata-json', '[1]']],
  ])('refuses %s naming the flag', (_, args) => {
    expect(() => tcp(...args)).toThrow(UsageError);
    expect(() => tcp(...args)).toThrow('--peer-metadata-json');
  });

  it('is refused without --tcp: HTTP learns the peer by --metadata-exchange', () => {
    expect(() => parse('--peer-metadata-json', '{}')).toThrow(
      '--peer-metadata-json: only with --tcp',
    );
  });
});
