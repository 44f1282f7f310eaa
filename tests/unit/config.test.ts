import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

// The settings whose mistakes are security mistakes: read strictly, refused with the setting's name.
describe('TRUST_PROXY', () => {
  const trustProxyOf = (value: string | undefined) => loadConfig({ TRUST_PROXY: value }).trustProxy;

  it('trusts no proxy unless told', () => {
    expect(trustProxyOf(undefined)).toBe(false);
    expect(trustProxyOf('')).toBe(false);
    expect(trustProxyOf('0')).toBe(false);
    expect(trustProxyOf('false')).toBe(false);
  });

  it('reads every hop, a hop count, or addresses and ranges', () => {
    expect(trustProxyOf('true')).toBe(true);
    expect(trustProxyOf('2')).toBe(2);
    expect(trustProxyOf(' 127.0.0.1, 10.0.0.0/8 ,::1 ')).toEqual(['127.0.0.1', '10.0.0.0/8', '::1']);
  });

  it('refuses what is none of these, naming the setting', () => {
    for (const bad of ['yes', 'proxy.internal', '10.0.0.1,*', 'TRUE '])
      expect(() => trustProxyOf(bad), bad).toThrow(ConfigError);
    expect(() => trustProxyOf('yes')).toThrow(/TRUST_PROXY/);
  });
});
