import { HttpException, HttpStatus } from '@nestjs/common';
import type { StateWriteError } from '../state/state-log';

/** Seconds a client is asked to wait before re-sending a report the state log could not keep. */
export const NOT_DURABLE_RETRY_AFTER_SECONDS = 1;

const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the state volume',
  EDQUOT: 'the state volume quota is exhausted',
  EIO: 'an I/O error on the state volume',
  EROFS: 'the state volume is read-only',
  EACCES: 'no permission to write the state directory',
  EPERM: 'no permission to write the state directory',
  ENOENT: 'the state directory is gone',
  EISDIR: 'a directory stands where the state file goes',
  EFBIG: 'the state file is over the file size limit',
};

/**
 * 503 for a report that could not be made durable: not acknowledged (a text report was not applied;
 * a structured one was, once, and a re-send is acknowledged as a duplicate once the disk works).
 * The message names the cause (errno code), never a path.
 */
export class ReportNotDurable extends HttpException {
  constructor(error: StateWriteError) {
    const cause = CAUSES[error.code] ?? 'a write error';
    super(
      `report not acknowledged: the durable state could not be written (${error.code}: ${cause}); retry later`,
      HttpStatus.SERVICE_UNAVAILABLE,
    );
  }
}
