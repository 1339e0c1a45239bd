// ESLint (flat config): typescript-eslint's type-aware recommended rules over src/.
// Promise misuse is an error (a floating promise loses an error or a write); the no-unsafe-*
// family (values typed `any` flowing on) warns, and is fixed where it points at a real hole.
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/**', 'node_modules/**', 'native/**', 'bench/**', 'scripts/**', 'bin/**', 'test/**', '*.mjs'] }, ...tseslint.configs.recommendedTypeChecked, {
  languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  rules: {
    // node:test's test()/describe() return promises the runner awaits itself.
    '@typescript-eslint/no-floating-promises': [
      'error',
      { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
    ],
    // `m[1]!` on regex groups is written on purpose (the code reads as under noUncheckedIndexedAccess).
    '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/no-unsafe-assignment': 'warn',
    '@typescript-eslint/no-unsafe-member-access': 'warn',
    '@typescript-eslint/no-unsafe-call': 'warn',
    '@typescript-eslint/no-unsafe-argument': 'warn',
    '@typescript-eslint/no-unsafe-return': 'warn',
  },
});
