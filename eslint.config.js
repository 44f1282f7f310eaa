// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Provider SDKs stay inside channels/: the core knows no provider (design: "Contracts that stay put").
const providerSdks = ['twilio', 'imapflow', 'mailparser', 'nodemailer'].flatMap((name) => [
  name,
  `${name}/*`,
]);

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.prof/**', 'dist/**', 'web-console/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Fastify handlers and hooks are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: providerSdks, message: 'Provider SDKs are used only inside channels/.' }] },
      ],
    },
  },
  {
    // Channels use their providers' SDKs; tests and benchmarks drive real servers with them (an IMAP client
    // appending mail, a mail parser as the bare baseline).
    files: ['channels/**/*.ts', 'tests/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Migrations are frozen in time: they may not import the application.
    files: ['migrations/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../src/*', '../src/**', '../channels/**'],
              message: 'Migrations import nothing from the app.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
