#!/usr/bin/env node
'use strict';
/* global require, __dirname, process, console */
/* eslint-disable no-console, @typescript-eslint/no-require-imports -- a plain CommonJS launcher */
// Launcher for the `mesha-wasm` bin: runs the TypeScript CLI (oci/src/cli.ts) through tsx's CommonJS hook, so
// there is no second build output to keep in step. mesha is a private package used from a checkout
// (`npm link` or `npx mesha-wasm`), where tsx is installed with the dev dependencies.
const path = require('node:path');

let tsx;
try {
  tsx = require('tsx/cjs/api');
} catch {
  console.error(
    'mesha-wasm: tsx is missing; run `npm ci` (with dev dependencies) in the mesha checkout',
  );
  process.exit(1);
}
tsx.register();
const { runCli } = require(path.join(__dirname, '..', 'src', 'cli.ts'));
runCli(process.argv.slice(2), {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  env: process.env,
}).then((code) => {
  process.exitCode = code;
});
