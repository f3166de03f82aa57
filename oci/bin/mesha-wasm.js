#!/usr/bin/env node
'use strict';
/* global require, __dirname, process, console */
/* eslint-disable no-console, @typescript-eslint/no-require-imports -- a plain CommonJS launcher */
// Launcher for the `mesha-wasm` bin. In this repository's checkout it runs the TypeScript source (oci/src/cli.ts)
// through tsx's CommonJS hook, so a stale build never answers; the installed package ships no src/ and runs the
// compiled CLI (dist/, made by the prepack build of `npm pack`).
const { existsSync } = require('node:fs');
const path = require('node:path');

function loadCli() {
  const source = path.join(__dirname, '..', 'src', 'cli.ts');
  if (!existsSync(source)) return require(path.join(__dirname, '..', 'dist', 'cli.js'));
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
  return require(source);
}

const { runCli, readProcessStdin } = loadCli();
runCli(process.argv.slice(2), {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  env: process.env,
  readStdin: readProcessStdin,
}).then((code) => {
  process.exitCode = code;
});
