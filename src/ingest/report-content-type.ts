import { HttpStatus } from '@nestjs/common';
import { parse } from 'content-type';
import { ReportRejected } from './report-rejected.exception';

/** How a report body is read: a structured JSON report, or the seed's text. */
export type ReportBodyKind = 'json' | 'text';

const UTF8 = new Set(['utf-8', 'utf8']);

/**
 * `application/json` (any case, any parameters; RFC 8259 JSON is UTF-8, so a charset parameter
 * must say UTF-8) is a structured report; anything else, or no Content-Type, is the seed's text.
 * A JSON type with another charset, or with parameters that do not parse, is refused with 415.
 */
export function reportBodyKind(contentType: string | undefined): ReportBodyKind {
  if (contentType === undefined) return 'text';
  const json = /^\s*application\/json\s*(;|$)/i.test(contentType);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(contentType);
  } catch {
    if (!json) return 'text';
    throw unsupported(`the Content-Type header is malformed: ${JSON.stringify(contentType)}`);
  }
  if (parsed.type !== 'application/json') return 'text';
  const charset = parsed.parameters.charset?.toLowerCase();
  if (charset !== undefined && !UTF8.has(charset)) {
    throw unsupported(
      `Content-Type application/json with charset ${JSON.stringify(charset)}: reports must be UTF-8`,
    );
  }
  return 'json';
}

function unsupported(message: string): ReportRejected {
  return new ReportRejected('unsupported_media_type', message, HttpStatus.UNSUPPORTED_MEDIA_TYPE);
}
