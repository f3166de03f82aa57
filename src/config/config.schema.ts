import { isIP } from 'node:net';
import { z } from 'zod';
import { ISTIO_LABELS, type IstioLabel } from '../istio/report-v2.types';

/**
 * An integer environment variable within [min, max], written in plain decimal digits: `0x4694`,
 * `1812e1`, `1.0`, ` 12` and `+5` are refused (z.coerce.number would take them all).
 */
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, 'must be a whole number written in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A fraction in (0, 1], written as plain decimal (`0.25`, `1`). */
const fraction = z
  .string()
  .regex(/^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$/, 'must be a decimal number in (0, 1], e.g. 0.25')
  .transform(Number)
  .pipe(z.number().gt(0, 'must be greater than 0').max(1));

/**
 * A listening address: an IPv4 or IPv6 literal, or a DNS name (letters, digits, `-`, dots); what
 * the name resolves to is only known at listen time (main.ts names HOST if that fails).
 */
const host = z
  .string()
  .max(253)
  .refine(
    (value) =>
      isIP(value) !== 0 ||
      /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
        value,
      ),
    'must be an IP address or a DNS name',
  );

/** A comma-separated list; blanks are ignored, so '' means an empty list. */
const commaList = z
  .string()
  .transform((raw) =>
    raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'each item must be 1-64 chars of A-Z a-z 0-9 _ . -'),
    ),
  );

/** A Prometheus label name that is not reserved (`__` prefix). */
const LABEL_NAME = /^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `name=value,...` pairs; names must match `name`, values may be anything but a comma. */
const pairList = (name: RegExp, what: string) =>
  z
    .string()
    .transform((raw) =>
      raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(/^[^=]+=.+$/, 'each item must be name=value')
          .transform((item): [string, string] => {
            const at = item.indexOf('=');
            return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
          })
          .refine(([key]) => name.test(key), `each name must be ${what}`),
      ),
    );

/** Request headers remote write sets itself. */
const RESERVED_REMOTE_WRITE_HEADERS = new Set([
  'authorization',
  'content-encoding',
  'content-length',
  'content-type',
  'host',
  'user-agent',
  'x-prometheus-remote-write-version',
]);

/**
 * Every setting mesha reads, one entry per environment variable, with its default.
 * Feature modules add their own entries here; nothing else reads process.env.
 */
export const configSchema = z.object({
  PORT: int(0, 65535).default(7171),
  HOST: host.default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  /** Largest accepted request body; bigger bodies get 413. */
  BODY_LIMIT_BYTES: int(1, 64 * 1024 * 1024).default(1024 * 1024),
  /** The report log line keeps at most this many characters of the body (its full size is logged too). */
  LOG_BODY_MAX_CHARS: int(0, 1024 * 1024).default(1024),
  /** Label sets kept per metric; further sets go to one `__overflow__` series. */
  MAX_SERIES: int(1, 1_000_000).default(10_000),
  /** Label values longer than this are cut. */
  LABEL_VALUE_MAX_CHARS: int(1, 4096).default(128),
  /** Query parameter keys that become labels of mesha_report_params_total; none by default. */
  PARAM_LABELS: commaList.default([]),
  /** Series not updated for this long are removed; 0 keeps them forever. */
  SERIES_TTL_SECONDS: int(0, 365 * 24 * 3600).default(0),
  /** Structured reports: reporters whose recent seqs are remembered (for exactly-once); LRU beyond. */
  MAX_REPORTERS: int(1, 1_000_000).default(10_000),
  /** mesha_reporters counts the reporters whose last valid report arrived within this many seconds. */
  REPORTER_LIVE_SECONDS: int(1, 365 * 24 * 3600).default(60),
  /** When set, POST /wasmCallback needs `Authorization: Bearer <AUTH_TOKEN>`. */
  AUTH_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    // A Secret written with `echo` ends in a newline: refusing it at start-up beats refusing every report.
    .regex(
      /^[\x21-\x7e]+$/,
      'must be printable ASCII without spaces (a trailing newline or space is a common mistake)',
    )
    .optional(),
  /** After SIGTERM, /readyz answers 503 for this long before the listener closes (lets endpoints update). */
  SHUTDOWN_DELAY_MS: int(0, 600_000).default(0),
  /** Upper bound on the whole shutdown; past it the process exits 1 even if requests are still open. */
  SHUTDOWN_GRACE_MS: int(100, 600_000).default(10_000),
  /** The reporter build served at FILTER_ROUTE, relative to the working directory (/app in the image). */
  FILTER_WASM_PATH: z.string().min(1).max(4096).default('k8s/reporter/build/filter.wasm'),
  /** Where filter.wasm (and filter.wasm.sha256) are served; `off` serves neither. */
  FILTER_ROUTE: z
    .string()
    .regex(/^(off|(\/[A-Za-z0-9._-]+)+)$/, 'must be off or a path like /filter.wasm')
    .max(256)
    .default('/filter.wasm'),
  // Status page (GET / and GET /api/v1/status)
  /** `off` removes both routes (they answer 404 like any unknown route). */
  STATUS_PAGE: z.enum(['on', 'off']).default('on'),

  // Remote write (#12): push every metric to a Prometheus remote-write receiver (protocol 1.0).
  /** The receiver's write endpoint (http or https); setting it turns remote write on. */
  REMOTE_WRITE_URL: z
    .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
    .refine(
      (raw) => !/^[a-z]+:\/\/[^/]*@/i.test(raw),
      'must not carry credentials: use the auth settings',
    )
    .optional(),
  /** A snapshot of every series is queued this often. */
  REMOTE_WRITE_INTERVAL_SECONDS: int(1, 3600).default(15),
  /** One write request may take this long before it counts as failed (and is retried). */
  REMOTE_WRITE_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Samples per write request. */
  REMOTE_WRITE_BATCH_SAMPLES: int(1, 100_000).default(2_000),
  /** Samples waiting to be sent; past it the oldest are dropped (and counted). */
  REMOTE_WRITE_QUEUE_SAMPLES: int(1, 10_000_000).default(500_000),
  /** Retries wait from this long, doubling up to REMOTE_WRITE_MAX_BACKOFF_MS (or what Retry-After says). */
  REMOTE_WRITE_MIN_BACKOFF_MS: int(1, 600_000).default(100),
  REMOTE_WRITE_MAX_BACKOFF_MS: int(1, 600_000).default(5_000),
  /** After SIGTERM, the final flush gives up this long before SHUTDOWN_GRACE_MS ends. */
  REMOTE_WRITE_FLUSH_MARGIN_MS: int(0, 600_000).default(1_000),
  /** `Authorization: Bearer <token>` on every write request (never logged). */
  REMOTE_WRITE_BEARER_TOKEN: z.string().optional(),
  /** HTTP basic auth (never logged); not together with the bearer token. */
  REMOTE_WRITE_BASIC_AUTH_USERNAME: z.string().max(256).optional(),
  REMOTE_WRITE_BASIC_AUTH_PASSWORD: z.string().optional(),
  /** Extra request headers, `Name=value,...` (e.g. X-Scope-OrgID for Mimir tenants); not for secrets. */
  REMOTE_WRITE_HEADERS: pairList(/^[A-Za-z0-9-]{1,64}$/, 'a header name')
    .refine(
      (pairs) => pairs.every(([name]) => !RESERVED_REMOTE_WRITE_HEADERS.has(name.toLowerCase())),
      `must not set ${[...RESERVED_REMOTE_WRITE_HEADERS].join(', ')}`,
    )
    .default([]),
  /** PEM file of the CA(s) that sign the receiver's certificate, instead of the system's. */
  REMOTE_WRITE_TLS_CA_FILE: z.string().min(1).max(4096).optional(),
  /** `true` accepts any certificate from the receiver (tests only). */
  REMOTE_WRITE_TLS_INSECURE_SKIP_VERIFY: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(false),
  /** Labels added to every series sent, `name=value,...` (a series' own label of the same name wins). */
  REMOTE_WRITE_EXTERNAL_LABELS: pairList(LABEL_NAME, 'a label name').default([['job', 'mesha']]),
  /**
   * The label that keeps each replica's series apart, and its value (default: the host name, which is
   * the pod name in Kubernetes). It must not be a replica label the receiver deduplicates on.
   */
  REMOTE_WRITE_REPLICA_LABEL: z
    .string()
    .regex(LABEL_NAME, 'must be a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)')
    .default('instance'),
  REMOTE_WRITE_REPLICA: z.string().min(1).max(256).optional(),

  // Durable state (#12): applied structured reports kept on a local volume.
  /** Directory of the state log (a local volume; one mesha process per directory); unset = in memory. */
  STATE_DIR: z.string().min(1).max(4096).optional(),
  /** The state log is compacted into one snapshot when it grows past this many bytes. */
  STATE_COMPACT_BYTES: int(1024, 16 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  // ---- Istio's standard metrics (src/istio, issue #8)
  /** Istio labels left out of the istio_* families (Istio's tags_to_remove): what differs only in
   * them adds up into one series. Comma-separated, from the 25 labels of Istio's standard metrics. */
  ISTIO_TAGS_TO_REMOVE: z
    .string()
    .transform((raw) =>
      raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    )
    .pipe(z.array(z.enum(ISTIO_LABELS as [IstioLabel, ...IstioLabel[]])))
    .default([]),

  // --- #9 pressure: memory budget, connections, bodies, hostile reporters ---
  /** The memory mesha may use, in bytes; unset: the container's cgroup limit, else V8's heap limit. */
  MEMORY_LIMIT_BYTES: int(32 * 1024 * 1024, 2 ** 50).optional(),
  /** Bytes the series of all capped metrics (and so /metrics bodies) may take; unset: 30 % of the limit. */
  MEMORY_BUDGET_BYTES: int(1024 * 1024, 2 ** 50).optional(),
  /** A source (workload) gets at most this share of a metric's series budget. */
  SERIES_SOURCE_SHARE: fraction.default(0.25),
  /**
   * Concurrent scrapes share one render; a new one starts at least this long (or as long as the last
   * render took, if longer) after the last ended.
   */
  METRICS_COALESCE_MS: int(0, 60_000).default(100),
  /** /metrics yields to the event loop after this many samples; 0 renders each metric in one go. */
  METRICS_RENDER_SLICE_LINES: int(0, 1_000_000).default(2000),
  /** Open connections beyond this are closed at once (counted, logged). */
  MAX_CONNECTIONS: int(1, 1_000_000).default(4096),
  /** Request bodies being received, summed over all connections; unset: 1/16 of the memory limit. */
  MAX_BODY_BYTES_IN_FLIGHT: int(1024, 2 ** 40).optional(),
  /** A client must send its request headers within this long. */
  HEADERS_TIMEOUT_MS: int(1000, 600_000).default(10_000),
  /** A client must send its whole request (headers and body) within this long. */
  REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  /** Idle kept-alive connections are closed after this long. */
  KEEP_ALIVE_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  /** A reporter's seq may be at most this far ahead of the highest seq mesha has from it. */
  SEQ_MAX_GAP: int(1, 2 ** 53 - 1).default(1_000_000),
});

/** Remote write (#12): the rules that span several of its settings. */
function checkRemoteWriteSettings(
  config: {
    REMOTE_WRITE_BEARER_TOKEN?: string;
    REMOTE_WRITE_BASIC_AUTH_USERNAME?: string;
    REMOTE_WRITE_BASIC_AUTH_PASSWORD?: string;
    REMOTE_WRITE_MIN_BACKOFF_MS: number;
    REMOTE_WRITE_MAX_BACKOFF_MS: number;
    REMOTE_WRITE_EXTERNAL_LABELS: Array<[string, string]>;
    REMOTE_WRITE_REPLICA_LABEL: string;
  },
  ctx: z.RefinementCtx,
): void {
  const problem = (variable: string, message: string) =>
    ctx.addIssue({ code: 'custom', path: [variable], message });
  const user = config.REMOTE_WRITE_BASIC_AUTH_USERNAME !== undefined;
  const password = config.REMOTE_WRITE_BASIC_AUTH_PASSWORD !== undefined;
  if (user !== password) {
    problem(
      'REMOTE_WRITE_BASIC_AUTH_USERNAME',
      'basic auth needs both REMOTE_WRITE_BASIC_AUTH_USERNAME and REMOTE_WRITE_BASIC_AUTH_PASSWORD',
    );
  }
  if (user && config.REMOTE_WRITE_BEARER_TOKEN !== undefined) {
    problem(
      'REMOTE_WRITE_BASIC_AUTH_USERNAME',
      'cannot be combined with REMOTE_WRITE_BEARER_TOKEN',
    );
  }
  if (config.REMOTE_WRITE_MIN_BACKOFF_MS > config.REMOTE_WRITE_MAX_BACKOFF_MS) {
    problem('REMOTE_WRITE_MIN_BACKOFF_MS', 'must not exceed REMOTE_WRITE_MAX_BACKOFF_MS');
  }
  const names = config.REMOTE_WRITE_EXTERNAL_LABELS.map(([name]) => name);
  if (names.includes(config.REMOTE_WRITE_REPLICA_LABEL)) {
    problem(
      'REMOTE_WRITE_EXTERNAL_LABELS',
      'must not set the replica label (REMOTE_WRITE_REPLICA_LABEL)',
    );
  }
  if (new Set(names).size !== names.length) {
    problem('REMOTE_WRITE_EXTERNAL_LABELS', 'names a label twice');
  }
}

export type AppConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Settings whose values never appear in an error message; nor does a URL carrying credentials. */
const SECRET_SETTINGS = new Set([
  'AUTH_TOKEN',
  'REMOTE_WRITE_BEARER_TOKEN',
  'REMOTE_WRITE_BASIC_AUTH_PASSWORD',
]);
const isSecret = (variable: string, value: string): boolean =>
  SECRET_SETTINGS.has(variable) || /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value);

/** Validates the environment once; throws ConfigError naming each bad variable and why. */
export function parseConfig(env: NodeJS.ProcessEnv): AppConfig {
  // An empty variable means "not set", as in most deployment tools.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = configSchema.superRefine(checkRemoteWriteSettings).safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const [name, ...inner] = issue.path.map(String);
      const variable = name ?? '(environment)';
      const value = present[variable];
      const shown =
        value === undefined || isSecret(variable, value) ? '' : ` (got ${JSON.stringify(value)})`;
      const where = inner.length > 0 ? `item ${inner.join('.')}: ` : '';
      return `${variable}: ${where}${issue.message}${shown}`;
    }),
  );
}
