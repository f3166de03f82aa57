import { destination, type DestinationStream } from 'pino';

/** Log lines are gathered up to this many bytes and written to stdout with one system call... */
export const LOG_BUFFER_BYTES = 4096;
/** ...and at least this often, so that a quiet mesha's lines still show up at once. */
export const LOG_FLUSH_INTERVAL_MS = 200;

let stdout: DestinationStream | undefined;

/**
 * stdout for pino, buffered: one write(2) per 4 KiB of lines instead of one per line (pino's default
 * destination makes a system call for every accepted report). Writes stay
 * synchronous, so the buffer never holds more than 4 KiB and one line; what it holds is written on
 * exit, whatever the exit. Only a SIGKILL loses lines: at most the last 200 ms or 4 KiB of them
 * (with STATE_DIR, reports flush their lines before they are acknowledged: see IngestService).
 * One per process (every application created in it shares it).
 */
export function bufferedStdout(): DestinationStream {
  if (stdout) return stdout;
  const stream = destination({
    dest: 1,
    sync: true,
    minLength: LOG_BUFFER_BYTES,
    periodicFlush: LOG_FLUSH_INTERVAL_MS,
  });
  process.on('exit', () => stream.flushSync());
  stdout = stream;
  return stream;
}
