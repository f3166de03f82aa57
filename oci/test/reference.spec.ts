import { OciError } from '../src/errors';
import { apiHost, manifestReference, parseImageRef } from '../src/reference';

describe('parseImageRef', () => {
  it.each([
    ['127.0.0.1:5000/mesha/reporter:0.1', '127.0.0.1:5000', 'mesha/reporter', '0.1', undefined],
    [
      'oci://ghcr.io/acme/mesha-reporter:v1.2.3',
      'ghcr.io',
      'acme/mesha-reporter',
      'v1.2.3',
      undefined,
    ],
    ['localhost/reporter', 'localhost', 'reporter', 'latest', undefined],
    ['reporter', 'docker.io', 'library/reporter', 'latest', undefined],
    ['acme/reporter:1', 'docker.io', 'acme/reporter', '1', undefined],
    [
      `harbor.local/a/b@sha256:${'a'.repeat(64)}`,
      'harbor.local',
      'a/b',
      undefined,
      `sha256:${'a'.repeat(64)}`,
    ],
    [`r.io/a:t@sha256:${'b'.repeat(64)}`, 'r.io', 'a', 't', `sha256:${'b'.repeat(64)}`],
  ])('%s', (input, registry, repository, tag, digest) => {
    const ref = parseImageRef(input);
    expect(ref).toMatchObject({ registry, repository, tag, digest });
    expect(parseImageRef(ref.canonical)).toEqual(ref);
  });

  it('asks for the digest when pinned, the tag otherwise, and Docker Hub at its API host', () => {
    expect(manifestReference(parseImageRef(`r.io/a:t@sha256:${'c'.repeat(64)}`))).toBe(
      `sha256:${'c'.repeat(64)}`,
    );
    expect(manifestReference(parseImageRef('r.io/a:t'))).toBe('t');
    expect(apiHost(parseImageRef('acme/x'))).toBe('registry-1.docker.io');
    expect(apiHost(parseImageRef('r.io:8443/x'))).toBe('r.io:8443');
  });

  it.each([
    ['', /empty/],
    ['Acme/Reporter', /lowercase/],
    ['r.io/a//b', /lowercase/],
    ['r.io/a:', /tag ""/],
    ['r.io/a:-bad', /tag "-bad"/],
    ['r.io/a@sha256:abc', /digest "sha256:abc"/],
    ['https://r.io/a', /only oci:\/\//],
    ['bad_host!:5000/a/b', /lowercase|registry/],
    ['r.io/' + 'a'.repeat(600), /too long/],
  ])('rejects %j', (input, why) => {
    expect(() => parseImageRef(input)).toThrow(OciError);
    expect(() => parseImageRef(input)).toThrow(why);
  });
});
