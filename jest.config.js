// Jest runs TypeScript through ts-jest; type errors are caught by `tsc --noEmit` in the test command instead,
// so ts-jest only transpiles (isolatedModules) and the suite starts fast.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 120000,
  maxWorkers: 2,
  // Longest suites first, so that two workers end together (test/helpers/sequencer.js).
  testSequencer: '<rootDir>/test/helpers/sequencer.js',
  setupFiles: ['<rootDir>/test/helpers/setup-env.ts'],
};
