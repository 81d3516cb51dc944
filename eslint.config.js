// Lint holds the architecture: component boundaries (ARCHITECTURE.md, "Dependency direction") are
// enforced here, not by prose.
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

const components = [
  'audit', 'pki', 'inventory', 'policy', 'segments', 'gateway', 'netd', 'monitor', 'response',
  'attest', 'iam', 'agent', 'sim',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'web/dist/**', 'dist/**', '**/*.mjs', 'eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      'eslint-comments/no-unused-disable': 'off',
      'no-console': 'off',
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': [
        { type: 'common', pattern: 'src/common', mode: 'folder' },
        { type: 'store', pattern: 'src/store', mode: 'folder' },
        { type: 'policy-engine', pattern: 'src/policy/engine', mode: 'folder' },
        ...components.map((c) => ({ type: c, pattern: `src/${c}`, mode: 'folder' })),
        { type: 'api', pattern: 'src/api', mode: 'folder' },
        { type: 'cli', pattern: 'src/cli', mode: 'folder' },
      ],
    },
    rules: {
      'boundaries/element-types': ['error', {
        default: 'disallow',
        message: '${file.type} must not import ${dependency.type} (see ARCHITECTURE.md, dependency direction)',
        rules: [
          { from: 'common', allow: ['common'] },
          // INVARIANT: the policy engine is a pure function: no store, no I/O components.
          { from: 'policy-engine', allow: ['common', 'policy-engine'] },
          { from: 'store', allow: ['common', 'store'] },
          { from: 'audit', allow: ['common', 'store', 'audit', 'pki'] },
          { from: 'pki', allow: ['common', 'pki'] },
          { from: 'inventory', allow: ['common', 'store', 'audit', 'pki', 'inventory'] },
          { from: 'policy', allow: ['common', 'store', 'audit', 'policy', 'policy-engine', 'inventory', 'segments'] },
          { from: 'segments', allow: ['common', 'store', 'audit', 'segments', 'policy-engine'] },
          { from: 'gateway', allow: ['common', 'gateway', 'policy-engine', 'pki'] },
          { from: 'netd', allow: ['common', 'netd', 'segments'] },
          { from: 'monitor', allow: ['common', 'store', 'audit', 'monitor'] },
          { from: 'response', allow: ['common', 'store', 'audit', 'response', 'inventory', 'monitor'] },
          { from: 'attest', allow: ['common', 'store', 'audit', 'attest', 'pki'] },
          { from: 'iam', allow: ['common', 'store', 'audit', 'iam'] },
          { from: 'agent', allow: ['common', 'agent', 'pki'] },
          { from: 'sim', allow: ['common', 'sim', 'agent', 'monitor'] },
          { from: 'api', allow: ['common', 'store', 'audit', 'api', ...components, 'policy-engine'] },
          { from: 'cli', allow: ['common', 'store', 'audit', 'cli', 'api', ...components, 'policy-engine'] },
        ],
      }],
      // Components are used through their index (public surface), never their internals.
      'boundaries/entry-point': ['error', {
        default: 'disallow',
        rules: [
          { target: ['common', 'store', 'policy-engine', 'api', 'cli'], allow: '**/*.ts' },
          { target: components, allow: 'index.ts' },
        ],
      }],
    },
  },
);
