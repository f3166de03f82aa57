import { effectiveMaxConnections, openFilesLimit, RESERVED_DESCRIPTORS } from './fd-limit';

describe('effectiveMaxConnections', () => {
  it('keeps MAX_CONNECTIONS below the open-files limit, with descriptors to spare', () => {
    expect(effectiveMaxConnections(4096, 1024)).toBe(1024 - RESERVED_DESCRIPTORS);
    expect(effectiveMaxConnections(4096, 1_048_576)).toBe(4096);
    expect(effectiveMaxConnections(4096, undefined)).toBe(4096);
  });

  it('reads the soft limit from /proc/self/limits', () => {
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units\n' +
      'Max open files            1024                 524288               files\n';
    expect(openFilesLimit(() => limits)).toBe(1024);
    expect(openFilesLimit(() => 'nothing here')).toBeUndefined();
    expect(
      openFilesLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
  });
});
