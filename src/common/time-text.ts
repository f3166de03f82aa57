/**
 * Dates as text, for the log lines written once per report. Formatting a date costs about a
 * microsecond; under load many reports share a millisecond (and all of a second share the seed's
 * date), so each formatter remembers its last answer.
 */

/** Wraps `format` so that asking again for the key asked last returns the text made then. */
function rememberLast(format: (key: number) => string): (key: number) => string {
  let lastKey = NaN;
  let lastText = '';
  return (key) => {
    if (key !== lastKey) {
      lastKey = key;
      lastText = format(key);
    }
    return lastText;
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The seed's `yyyy-MM-dd HH:mm:ss`, in the server's local time zone as the seed printed it. */
export function seedTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Factories, so that each caller (and each test) has its own memory of the last answer. */
export const isoTimeFormatter = (): ((ms: number) => string) =>
  rememberLast((ms) => new Date(ms).toISOString());

export function seedTimeFormatter(): (ms: number) => string {
  const ofSecond = rememberLast((second) => seedTime(second * 1000));
  return (ms) => ofSecond(Math.floor(ms / 1000));
}

/** pino's `timestamp` option: its isoTime, formatted once per millisecond. */
export function pinoIsoTime(): () => string {
  const field = rememberLast((ms) => `,"time":"${new Date(ms).toISOString()}"`);
  return () => field(Date.now());
}
