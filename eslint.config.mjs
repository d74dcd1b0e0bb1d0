// ESLint (flat config): typescript-eslint's type-aware recommended rules over everything we write; generated
// L1 bindings and build output are left out. Each rule turned off says why.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'constructs/generated/**', '**/cdktf.out/**', '.terraform-mirror/**', '.bench/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Chunk kinds and wire record types live in typed arrays and buffers as numbers; comparing those numbers
      // with the enum is the point.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Route handlers, byte sources and resource methods keep one async signature whether or not a given one
      // awaits.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Route paths are spelled once, in the API contract (engine/contract/routes.ts); everything else calls the
    // typed client. Tests may address the wire directly, on purpose.
    files: ['engine/**/*.ts', 'provider/**/*.ts', 'constructs/**/*.ts', 'examples/**/*.ts'],
    ignores: ['engine/contract/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'Literal[value=/^\\/v1(\\/|$)/]', message: 'Route paths live in engine/contract/routes.ts: call the typed client (client.bases.get(...)) instead.' },
        { selector: 'TemplateElement[value.raw=/^\\/v1(\\/|$)/]', message: 'Route paths live in engine/contract/routes.ts: call the typed client (client.bases.get(...)) instead.' },
      ],
    },
  },
  {
    // Tests read API answers and files as untyped JSON and assert on their shape.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
    },
  },
);
