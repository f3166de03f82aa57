import { ConfigError, parseConfig, type AppConfig } from '../config/config.schema';
import { remoteWriteOptions } from './remote-write.options';

const optionsOf = (env: Record<string, string>) => {
  const config = parseConfig(env);
  return remoteWriteOptions(<K extends keyof AppConfig>(name: K) => config[name]);
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('remote-write settings', () => {
  const url = 'https://mimir.example:8080/api/v1/push';

  it('is off without REMOTE_WRITE_URL', () => {
    expect(optionsOf({})).toBeUndefined();
  });

  it('has defaults, and labels each replica (host name unless REMOTE_WRITE_REPLICA is set)', () => {
    const options = optionsOf({ REMOTE_WRITE_URL: url, REMOTE_WRITE_REPLICA: 'mesha-0' });
    expect(options).toMatchObject({
      intervalMs: 15_000,
      writer: {
        batchSamples: 2_000,
        queueSamples: 500_000,
        minBackoffMs: 100,
        maxBackoffMs: 5_000,
      },
      labels: [
        { name: 'job', value: 'mesha' },
        { name: 'instance', value: 'mesha-0' },
      ],
    });
    expect(options?.target.headers).toMatchObject({
      'Content-Encoding': 'snappy',
      'Content-Type': 'application/x-protobuf',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
    });
    expect(options?.target.headers.Authorization).toBeUndefined();
    expect(options?.target.rejectUnauthorized).toBe(true);
  });

  it('builds bearer or basic auth, extra headers and external labels', () => {
    expect(
      optionsOf({ REMOTE_WRITE_URL: url, REMOTE_WRITE_BEARER_TOKEN: 'tok' })?.target.headers
        .Authorization,
    ).toBe('Bearer tok');
    const basic = optionsOf({
      REMOTE_WRITE_URL: url,
      REMOTE_WRITE_BASIC_AUTH_USERNAME: 'user',
      REMOTE_WRITE_BASIC_AUTH_PASSWORD: 'pa:ss',
      REMOTE_WRITE_HEADERS: 'X-Scope-OrgID=team-a, THANOS-TENANT=t',
      REMOTE_WRITE_EXTERNAL_LABELS: 'cluster=eu-1,job=mesha-mesh',
      REMOTE_WRITE_REPLICA_LABEL: 'mesha_replica',
      REMOTE_WRITE_REPLICA: 'r1',
    });
    expect(basic?.target.headers).toMatchObject({
      Authorization: `Basic ${Buffer.from('user:pa:ss').toString('base64')}`,
      'X-Scope-OrgID': 'team-a',
      'THANOS-TENANT': 't',
    });
    expect(basic?.labels).toEqual([
      { name: 'cluster', value: 'eu-1' },
      { name: 'job', value: 'mesha-mesh' },
      { name: 'mesha_replica', value: 'r1' },
    ]);
  });

  it.each([
    [{ REMOTE_WRITE_URL: 'ftp://x/' }, 'REMOTE_WRITE_URL: must be an http:// or https:// URL'],
    [{ REMOTE_WRITE_INTERVAL_SECONDS: '0' }, 'REMOTE_WRITE_INTERVAL_SECONDS'],
    [{ REMOTE_WRITE_BATCH_SAMPLES: 'many' }, 'REMOTE_WRITE_BATCH_SAMPLES'],
    [{ REMOTE_WRITE_HEADERS: 'Content-Type=text/plain' }, 'REMOTE_WRITE_HEADERS: must not set'],
    [
      { REMOTE_WRITE_HEADERS: 'novalue' },
      'REMOTE_WRITE_HEADERS: item 0: each item must be name=value',
    ],
    [{ REMOTE_WRITE_EXTERNAL_LABELS: '__name__=x' }, 'REMOTE_WRITE_EXTERNAL_LABELS: item 0'],
    [
      { REMOTE_WRITE_EXTERNAL_LABELS: 'a=1,a=2' },
      'REMOTE_WRITE_EXTERNAL_LABELS: names a label twice',
    ],
    [{ REMOTE_WRITE_EXTERNAL_LABELS: 'instance=x' }, 'must not set the replica label'],
    [
      { REMOTE_WRITE_REPLICA_LABEL: 'bad-name' },
      'REMOTE_WRITE_REPLICA_LABEL: must be a label name',
    ],
    [{ REMOTE_WRITE_TLS_INSECURE_SKIP_VERIFY: 'yes' }, 'REMOTE_WRITE_TLS_INSECURE_SKIP_VERIFY'],
    [{ REMOTE_WRITE_MIN_BACKOFF_MS: '500', REMOTE_WRITE_MAX_BACKOFF_MS: '100' }, 'must not exceed'],
    [{ REMOTE_WRITE_BASIC_AUTH_USERNAME: 'u' }, 'basic auth needs both'],
    [
      {
        REMOTE_WRITE_BEARER_TOKEN: 't',
        REMOTE_WRITE_BASIC_AUTH_USERNAME: 'u',
        REMOTE_WRITE_BASIC_AUTH_PASSWORD: 'p',
      },
      'cannot be combined with REMOTE_WRITE_BEARER_TOKEN',
    ],
  ])('refuses %j', (env, message) => {
    expect(problemsOf(env).join('\n')).toContain(message);
  });

  it('never echoes a secret: credentials in the URL are refused without showing it', () => {
    const problems = problemsOf({
      REMOTE_WRITE_URL: 'https://user:hunter2hunter2@mimir.example/push',
    });
    expect(problems).toEqual([
      'REMOTE_WRITE_URL: must not carry credentials: use the auth settings',
    ]);
  });

  it('stops at start-up when the CA file cannot be read', () => {
    expect(() =>
      optionsOf({ REMOTE_WRITE_URL: url, REMOTE_WRITE_TLS_CA_FILE: '/nonexistent/ca.pem' }),
    ).toThrow('REMOTE_WRITE_TLS_CA_FILE: cannot read /nonexistent/ca.pem');
  });
});
