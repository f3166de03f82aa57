import { ConfigError, parseConfig } from '../config/config.schema';

describe('STATUS_PAGE', () => {
  it('is on by default, takes on or off, and names itself when given anything else', () => {
    expect(parseConfig({}).STATUS_PAGE).toBe('on');
    expect(parseConfig({ STATUS_PAGE: 'off' }).STATUS_PAGE).toBe('off');
    expect(parseConfig({ STATUS_PAGE: '' }).STATUS_PAGE).toBe('on');
    expect(() => parseConfig({ STATUS_PAGE: 'false' })).toThrow(ConfigError);
    expect(() => parseConfig({ STATUS_PAGE: 'false' })).toThrow(/STATUS_PAGE: .*\(got "false"\)/);
  });
});
