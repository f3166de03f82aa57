import { HttpStatus } from '@nestjs/common';
import { reportBodyKind } from './report-content-type';
import { ReportRejected } from './report-rejected.exception';

describe('reportBodyKind', () => {
  it.each([
    [undefined, 'text'],
    ['text/plain', 'text'],
    ['application/octet-stream', 'text'],
    ['application/jsonx', 'text'],
    ['application/json-seq', 'text'],
    ['text/plain; charset=latin1', 'text'],
    ['application/json', 'json'],
    ['Application/JSON', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['application/json;charset="UTF-8"', 'json'],
    ['application/json; charset=utf8', 'json'],
    ['application/json; foo=bar', 'json'],
  ])('%p is read as %p', (contentType, kind) => {
    expect(reportBodyKind(contentType)).toBe(kind);
  });

  it.each([
    ['application/json; charset=latin1', /charset "latin1"/],
    ['application/json; charset=utf-16', /charset "utf-16"/],
    ['application/json; charset', /malformed/],
    ['application/json;;', /malformed/],
  ])('refuses %p with 415, saying why', (contentType, message) => {
    let error: unknown;
    try {
      reportBodyKind(contentType);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ReportRejected);
    expect((error as ReportRejected).getStatus()).toBe(HttpStatus.UNSUPPORTED_MEDIA_TYPE);
    expect((error as ReportRejected).reason).toBe('unsupported_media_type');
    expect((error as ReportRejected).message).toMatch(message);
  });
});
