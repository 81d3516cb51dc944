// Lint holds the architecture (ARCHITECTURE.md, "Dependency direction"): each component may import
// only the components listed for it, other components only through their index.ts, and the policy
// engine nothing with I/O. A violation is an error, not a comment in a review.
import tseslint from 'typescript-eslint';

const COMPONENTS = ['common', 'store', 'audit', 'pki', 'inventory', 'policy', 'segments', 'gateway', 'netd', 'monitor', 'response', 'attest', 'iam', 'agent', 'sim', 'api', 'cli'];
// Components used as a library (anything inside may be imported); the rest only through index.ts.
const OPEN = new Set(['common', 'store']);

/** Which components each component may import (itself always). */
const ALLOW = {
  common: [],
  store: ['common'],
  audit: ['common', 'store'],
  pki: ['common', 'store', 'audit'],
  inventory: ['common', 'store', 'audit'],
  policy: ['common', 'store', 'audit', 'inventory', 'segments'],
  segments: ['common', 'store', 'audit'],
  gateway: ['common', 'pki'],
  netd: ['common', 'segments'],
  monitor: ['common', 'store', 'audit'],
  response: ['common', 'store', 'audit', 'inventory', 'monitor'],
  attest: ['common', 'store', 'audit', 'pki'],
  iam: ['common', 'store', 'audit'],
  agent: ['common', 'pki', 'attest'],
  sim: ['common', 'agent', 'monitor'],
  api: COMPONENTS.filter((c) => c !== 'cli' && c !== 'api'),
  cli: COMPONENTS.filter((c) => c !== 'cli'),
};

function restrictionsFor(component, depth) {
  const up = `(\\.\\./){${depth}}`;
  const forbidden = COMPONENTS.filter((c) => c !== component && !ALLOW[component].includes(c));
  const patterns = [];
  if (forbidden.length > 0) {
    patterns.push({ regex: `^${up}(${forbidden.join('|')})/`, message: `${component} must not import this component (ARCHITECTURE.md, dependency direction; eslint.config.js ALLOW).` });
  }
  const closed = ALLOW[component].filter((c) => !OPEN.has(c));
  if (closed.length > 0) {
    patterns.push({ regex: `^${up}(${closed.join('|')})/(?!index\\.js$)`, message: 'Use the component through its index.ts, not its internals.' });
  }
  return patterns;
}

const componentConfigs = COMPONENTS.flatMap((c) => [1, 2].map((depth) => ({
  files: depth === 1 ? [`src/${c}/*.ts`] : [`src/${c}/*/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns: restrictionsFor(c, depth) }] },
})));

export default tseslint.config(
  { ignores: ['node_modules/**', 'web/dist/**', 'dist/**', '**/*.mjs', 'eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  ...componentConfigs,
  {
    // The dashboard is browser code: it talks to the server only over the API, never by import.
    files: ['web/**/*.ts', 'web/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^(\\.\\./)+src/', message: 'The dashboard reaches the server through the HTTP API only.' },
        { regex: '^node:', message: 'The dashboard runs in the browser.' },
      ] }],
    },
  },
  {
    // The gateway asks the pure policy engine directly (it is the decision function).
    files: ['src/gateway/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^(\\.\\./)+(store|audit|inventory|segments|netd|monitor|response|attest|iam|agent|sim|api|cli)/', message: 'The gateway reaches the control plane through interfaces and the change feed, not its internals.' },
        { regex: '^(\\.\\./)+policy/(?!engine/index\\.js$)', message: 'The gateway may use only the policy engine (src/policy/engine/index.ts).' },
        { regex: '^(\\.\\./)+pki/(?!index\\.js$)', message: 'Use the PKI through its index.ts.' },
      ] }],
    },
  },
  {
    // INVARIANT: the policy engine is a pure, total function — no I/O, no clock, no WASM.
    files: ['src/policy/engine/**/*.ts'],
    ignores: ['src/policy/engine/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^node:', message: 'The policy engine is pure: no Node I/O modules.' },
        { regex: '^(fs|net|http|https|child_process|worker_threads|dgram|tls)$', message: 'The policy engine is pure: no I/O.' },
        { regex: '^@cedar-policy/', message: 'The engine must not call cedar-wasm; parse outside (src/policy/cedar-json.ts).' },
        { regex: '^(\\.\\./){2}(?!common/)', message: 'The policy engine may import only src/common.' },
      ] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'No clock reads in the engine: time comes in the request.' }, { name: 'fetch', message: 'No I/O in the engine.' }, { name: 'process', message: 'No process access in the engine.' }],
    },
  },
);
