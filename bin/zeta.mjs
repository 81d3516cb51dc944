#!/usr/bin/env node
// Entry point for `npx zeta`: runs the TypeScript CLI through tsx so there is no build step to forget.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// V8 11.3 can abort while deoptimizing around inlined JS-to-Wasm calls (cedar-wasm); ADR 0002.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');
register();
await import('../src/cli/main.ts');
