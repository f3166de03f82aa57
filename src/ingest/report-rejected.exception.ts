import { HttpException, HttpStatus } from '@nestjs/common';

/** Why a report was refused: the `reason` label of mesha_rejected_reports_total. */
export const REJECTION_REASONS = [
  'missing_header',
  'too_many_params',
  'too_large',
  'unauthorized',
  'invalid_report',
  'bad_request',
  'seq_gap',
  'unsupported_media_type',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** A refused report: a 4xx whose message says what was wrong, counted under `reason`. */
export class ReportRejected extends HttpException {
  constructor(
    readonly reason: RejectionReason,
    message: string,
    status: HttpStatus = HttpStatus.BAD_REQUEST,
  ) {
    super(message, status);
  }
}
