import { headerRecord, RequestTargetError, urlOnOrigin } from '../src/outgoing-request';
import { UpstreamClient } from '../src/sidecar/upstream';

describe('urlOnOrigin', () => {
  const base = new URL('http://127.0.0.1:7171');

  it.each([
    ['/v1/reports?x=1', 'http://127.0.0.1:7171/v1/reports?x=1'],
    ['/', 'http://127.0.0.1:7171/'],
    ['/a?', 'http://127.0.0.1:7171/a?'],
    ['/a#frag', 'http://127.0.0.1:7171/a'],
    ['//evil.com/x', 'http://127.0.0.1:7171//evil.com/x'],
    ['/@evil.com/x', 'http://127.0.0.1:7171/@evil.com/x'],
    ['/\\evil.com/x', 'http://127.0.0.1:7171//evil.com/x'],
  ])('keeps %j on the base origin', (path, expected) => {
    const url = urlOnOrigin(base, path);
    expect(url.href).toBe(expected);
    expect(url.origin).toBe(base.origin);
  });

  it('appends the path to the base URL path', () => {
    expect(urlOnOrigin(new URL('http://127.0.0.1:8080/prefix/'), '/x?q=1').href).toBe(
      'http://127.0.0.1:8080/prefix/x?q=1',
    );
  });

  it.each(['@evil.com/x', 'x', '', 'http://evil.com/x', '*'])(
    'rejects %j, which is not origin-form',
    (path) => {
      expect(() => urlOnOrigin(base, path)).toThrow(RequestTargetError);
      expect(() => urlOnOrigin(base, path)).toThrow('request path must start with "/"');
    },
  );
});

describe('headerRecord', () => {
  it('joins repeated names into arrays, skips names, and keeps __proto__ a plain key', () => {
    const record = headerRecord(
      [
        [':path', '/'],
        ['a', '1'],
        ['a', '2'],
        ['a', '3'],
        ['__proto__', 'x'],
        ['b', 'y'],
      ],
      (k) => k.startsWith(':'),
    );
    expect(Object.getPrototypeOf(record)).toBeNull();
    expect(Object.keys(record)).toEqual(['a', '__proto__', 'b']);
    expect(record.a).toEqual(['1', '2', '3']);
    expect(record['__proto__']).toBe('x');
    expect(record.b).toBe('y');
  });
});

describe('UpstreamClient', () => {
  it('refuses a :path (as a plugin may rewrite it) that would leave the upstream', async () => {
    const client = new UpstreamClient(new URL('http://127.0.0.1:1'));
    const events = { headers: jest.fn(), data: jest.fn(), trailers: jest.fn(), failed: jest.fn() };
    try {
      expect(() =>
        client.open(
          [
            [':method', 'GET'],
            [':path', '@127.0.0.1:2/x'],
          ],
          true,
          events,
        ),
      ).toThrow(RequestTargetError);
      expect(events.failed).not.toHaveBeenCalled();
    } finally {
      client.close();
    }
  });
});
