import { ConfigError, parseConfig } from './config.schema';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('gives every setting its default', () => {
    // toMatchObject: feature modules add their own settings to the schema.
    expect(parseConfig({})).toMatchObject({
      PORT: 7171,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      BODY_LIMIT_BYTES: 1048576,
      LOG_BODY_MAX_CHARS: 1024,
      MAX_SERIES: 10000,
      LABEL_VALUE_MAX_CHARS: 128,
      PARAM_LABELS: [],
      SERIES_TTL_SECONDS: 0,
      MAX_REPORTERS: 10000,
      REPORTER_LIVE_SECONDS: 60,
      SHUTDOWN_DELAY_MS: 0,
      SHUTDOWN_GRACE_MS: 10000,
    });
    expect(parseConfig({}).AUTH_TOKEN).toBeUndefined();
  });

  it('reads and converts values, treating empty variables as unset', () => {
    const config = parseConfig({
      PORT: '8080',
      PARAM_LABELS: ' app , region,,',
      SERIES_TTL_SECONDS: '300',
      AUTH_TOKEN: 'a-long-enough-secret',
      LOG_FORMAT: '',
      UNRELATED: 'ignored',
    });
    expect(config.PORT).toBe(8080);
    expect(config.PARAM_LABELS).toEqual(['app', 'region']);
    expect(config.SERIES_TTL_SECONDS).toBe(300);
    expect(config.AUTH_TOKEN).toBe('a-long-enough-secret');
    expect(config.LOG_FORMAT).toBe('json');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '1.5'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_FORMAT', 'xml'],
    ['BODY_LIMIT_BYTES', '0'],
    ['LOG_BODY_MAX_CHARS', '-1'],
    ['MAX_SERIES', '0'],
    ['LABEL_VALUE_MAX_CHARS', 'many'],
    ['PARAM_LABELS', 'ok,not ok'],
    ['SERIES_TTL_SECONDS', '-5'],
    ['MAX_REPORTERS', '0'],
    ['REPORTER_LIVE_SECONDS', '0'],
    ['SHUTDOWN_GRACE_MS', '10'],
    ['SHUTDOWN_DELAY_MS', 'soon'],
    // Numbers are plain decimal digits: no hex, exponents, signs, fractions or spaces.
    ['PORT', '0x4694'],
    ['PORT', '1812e1'],
    ['PORT', ' 7171'],
    ['PORT', '+7171'],
    ['MAX_SERIES', '1e4'],
    ['BODY_LIMIT_BYTES', '1048576.0'],
    ['HOST', 'not a host'],
    ['HOST', 'under_score.example'],
    ['HOST', '-leading.example'],
    ['SERIES_SOURCE_SHARE', '0'],
    ['SERIES_SOURCE_SHARE', '1.5'],
    ['SERIES_SOURCE_SHARE', '.5'],
    ['MEMORY_LIMIT_BYTES', '1024'],
    ['SEQ_MAX_GAP', '0'],
  ])('rejects %s=%s, naming the variable and the value', (variable, value) => {
    const problems = problemsOf({ [variable]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${variable}: `));
    expect(problems[0]).toContain(JSON.stringify(value));
  });

  it('reports every bad variable at once', () => {
    const problems = problemsOf({ PORT: 'x', MAX_SERIES: 'y' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['MAX_SERIES', 'PORT']);
  });

  it.each(['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost', 'mesha.istio12.svc.cluster.local'])(
    'accepts HOST=%s',
    (value) => {
      expect(parseConfig({ HOST: value }).HOST).toBe(value);
    },
  );

  it.each([
    ['a trailing newline', 'a-long-enough-secret\n'],
    ['a leading space', ' a-long-enough-secret'],
    ['a space inside', 'a-long-enough secret'],
    ['a control character', 'a-long-enough-\u0007secret'],
    ['a non-ASCII character', 'a-long-enough-sécret'],
  ])('refuses an AUTH_TOKEN with %s, naming the variable, never echoing it', (_what, token) => {
    const problems = problemsOf({ AUTH_TOKEN: token });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^AUTH_TOKEN: must be printable ASCII without spaces/);
    expect(problems[0]).not.toContain('secret');
  });

  it('never echoes AUTH_TOKEN', () => {
    const problems = problemsOf({ AUTH_TOKEN: 'short-secret' });
    expect(problems[0]).toMatch(/^AUTH_TOKEN: /);
    expect(problems.join()).not.toContain('short-secret');
  });
});
