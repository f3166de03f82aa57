import { isIP } from 'node:net';
import { z } from 'zod';

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

export type AppConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment once; throws ConfigError naming each bad variable and why. */
export function parseConfig(env: NodeJS.ProcessEnv): AppConfig {
  // An empty variable means "not set", as in most deployment tools.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = configSchema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const [name, ...inner] = issue.path.map(String);
      const variable = name ?? '(environment)';
      const value = present[variable];
      const shown =
        variable === 'AUTH_TOKEN' || value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
      const where = inner.length > 0 ? `item ${inner.join('.')}: ` : '';
      return `${variable}: ${where}${issue.message}${shown}`;
    }),
  );
}
