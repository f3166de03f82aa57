import { decodePairs, encodePairs } from '../src';
import { HeaderMap } from '../src/header-map';

describe('header map codec (Envoy pair serialization)', () => {
  it('encodes count, sizes, then key\\0value\\0', () => {
    const bytes = encodePairs([
      ['a', 'bc'],
      [':path', '/'],
    ]);
    const expected = Buffer.concat([
      Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.from('a\0bc\0:path\0/\0'),
    ]);
    expect(bytes).toEqual(expected);
    expect(decodePairs(bytes)).toEqual([
      ['a', 'bc'],
      [':path', '/'],
    ]);
  });

  it('encodes an empty map as zero bytes and decodes it back', () => {
    expect(encodePairs([]).length).toBe(0);
    expect(decodePairs(Buffer.alloc(0))).toEqual([]);
  });

  it('round-trips UTF-8 and empty values', () => {
    const pairs: Array<[string, string]> = [
      ['k', ''],
      ['ключ', 'значение'],
    ];
    expect(decodePairs(encodePairs(pairs))).toEqual(pairs);
  });

  it('is strict: trailing bytes, missing NUL, short data, absurd counts all fail', () => {
    const good = encodePairs([['a', 'b']]);
    expect(decodePairs(Buffer.concat([good, Buffer.from([0])]))).toBeUndefined();
    const noNul = Buffer.from(good);
    noNul[noNul.length - 1] = 0x41;
    expect(decodePairs(noNul)).toBeUndefined();
    expect(decodePairs(good.subarray(0, good.length - 1))).toBeUndefined();
    expect(decodePairs(Buffer.from([1, 0]))).toBeUndefined();
    expect(decodePairs(Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]))).toBeUndefined();
  });
});

describe('HeaderMap', () => {
  it('lower-cases keys, replaces every occurrence with one, removes all', () => {
    const map = new HeaderMap([
      ['X-A', '1'],
      ['x-a', '2'],
      ['b', '3'],
    ]);
    expect(map.get('X-a')).toBe('1');
    map.replace('x-A', '9');
    expect(map.pairs).toEqual([
      ['x-a', '9'],
      ['b', '3'],
    ]);
    map.add('B', '4');
    map.remove('b');
    expect(map.pairs).toEqual([['x-a', '9']]);
  });
});
