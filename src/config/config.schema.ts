import { z } from 'zod';
import { ISTIO_LABELS, type IstioLabel } from '../istio/report-v2.types';

/** An integer environment variable within [min, max]. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
  HOST: z.string().min(1).default('0.0.0.0'),
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
  AUTH_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
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
