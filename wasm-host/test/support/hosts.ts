import { ProxyWasmHost, type HostOptions } from '../../src';

/** Starts hosts and closes every one of them after each test. */
export function hostTracker(): {
  start(options: HostOptions): Promise<ProxyWasmHost>;
  closeAll(): Promise<void>;
} {
  const hosts: ProxyWasmHost[] = [];
  return {
    async start(options) {
      const host = await ProxyWasmHost.start(options);
      hosts.push(host);
      return host;
    },
    async closeAll() {
      await Promise.all(hosts.splice(0).map((h) => h.close()));
    },
  };
}

export const messages = (host: ProxyWasmHost, vm?: number): string[] =>
  host.logs.filter((l) => vm === undefined || l.vm === vm).map((l) => l.message);
