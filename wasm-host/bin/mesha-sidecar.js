#!/usr/bin/env node
'use strict';
/* global require, __dirname, process, console */
/* eslint-disable no-console, @typescript-eslint/no-require-imports -- a plain CommonJS launcher */
// The package's `mesha-sidecar` bin: the compiled sidecar CLI (dist/, made by `npm run build`, which `npm pack`
// runs). In this repository's checkout `npm run sidecar` runs the TypeScript source instead.
const path = require('node:path');

const cli = path.join(__dirname, '..', 'dist', 'cli', 'sidecar.js');
try {
  require.resolve(cli);
} catch {
  console.error(
    'mesha-sidecar: dist/ is missing; run `npm run build` in wasm-host (or use npm run sidecar)',
  );
  process.exit(1);
}
require(cli);
