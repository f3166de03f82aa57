/**
 * `--cluster NAME=URL[,URL...]`, repeatable: a name given again adds endpoints to that cluster (a cluster of
 * several endpoints is balanced by a ring hash on the call's `:authority`). Names are kept on a null-prototype
 * record; `check(flag, url)` validates each URL.
 */
export function parseClusterFlags(
  values: readonly string[],
  check: (url: string) => void,
  fail: (message: string) => Error,
): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw fail(`--cluster: expected NAME=URL[,URL...], got "${v}"`);
    const name = v.slice(0, i);
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
      throw fail(`--cluster: "${name}" is not an allowed name`);
    }
    const urls = v.slice(i + 1).split(',');
    for (const url of urls) check(url);
    const list = (out[name] ??= []);
    for (const url of urls) {
      if (list.includes(url)) throw fail(`--cluster: ${name} lists ${url} twice`);
      list.push(url);
    }
  }
  return out;
}
