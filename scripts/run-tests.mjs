#!/usr/bin/env node
// Finds every *.test.ts under src/ and test/ (or the paths given) and runs them with Node's own
// test runner through tsx. Node 20's --test takes no globs, hence this file.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(join(path, name), out);
  }
}

// Files that must run without V8's optimizing compiler (none today; see docs/adr/0002).
const NO_OPT = [];

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src', 'test'];
const files = [];
for (const root of roots) collect(root, files);
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
const base = ['--import', 'tsx', '--test', `--test-concurrency=${process.env.ZETA_TEST_CONCURRENCY ?? '2'}`, `--test-timeout=${process.env.ZETA_TEST_TIMEOUT_MS ?? '300000'}`];
if (process.env.ZETA_TEST_REPORTER) base.push(`--test-reporter=${process.env.ZETA_TEST_REPORTER}`);
const slow = files.filter((f) => NO_OPT.some((re) => re.test(f)));
const rest = files.filter((f) => !slow.includes(f));
let status = 0;
if (slow.length > 0) {
  const r = spawnSync(process.execPath, ['--no-opt', ...base, ...slow], { stdio: 'inherit' });
  status = r.status ?? 1;
}
if (rest.length > 0) {
  const r = spawnSync(process.execPath, [...base, ...rest], { stdio: 'inherit' });
  if (status === 0) status = r.status ?? 1;
}
process.exit(status);
