// After tsc: the public declarations use the WebAssembly namespace, which lib ES2022 and @types/node 20 do not
// declare, so the package ships src/webassembly.d.ts and its index.d.ts references it.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { URL } from 'node:url';

const at = (path) => new URL(`../${path}`, import.meta.url);
copyFileSync(at('src/webassembly.d.ts'), at('dist/webassembly.d.ts'));
const index = at('dist/index.d.ts');
writeFileSync(index, `/// <reference path="./webassembly.d.ts" />\n${readFileSync(index, 'utf8')}`);
