// `npm run mutate`: StrykerJS mutation testing of src/ (see docs/testing.md, "Mutation testing").
// Not part of `npm test` or CI: on two cores a full run takes a while; its score is reported, not timed.

// The property tests run on a fixed seed and fewer runs, so that a mutant is
// killed or survives the same way on every run (and incremental reruns agree).
process.env.FC_SEED ??= '20240601';
process.env.FC_RUNS ??= '100';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/**/*.ts',
    // Its tests need a PostgreSQL server per run: the one exclusion (docs/testing.md).
    '!src/durable/**',
    // Types and re-exports only: nothing to mutate.
    '!src/types.ts',
    '!src/testing/index.ts',
  ],
  // The suite less what cannot see a mutant or needs a server: tests that run
  // src/ in a child process (the mutant is not active there), the tarball test
  // (it builds dist/), the PostgreSQL tests, and the registry example's tests
  // (HTTP and processes: slow, and what they run of src/ the protocol tests cover).
  testFiles: [
    'test/!(package|postgres-harness|process-exit|inspect-demo|registry|registry-process).test.ts',
    'test/model/**/*.test.ts',
    'test/properties/**/*.test.ts',
  ],
  ignorePatterns: ['dist', 'docs/api', 'scratch', 'bench', 'reports', 'coverage', '*.tgz'],
  coverageAnalysis: 'perTest',
  // Module-level code (the statechart's definition, requirement texts, constant
  // tables) runs once at import: each of its mutants needs a fresh environment
  // and the whole suite, too slow on two cores. Their behaviour is pinned by the
  // behaviour tests; the mutants left are those a test can be aimed at.
  ignoreStatic: true,
  // Reruns only test the mutants whose code or tests changed (reports/stryker-incremental.json).
  incremental: true,
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  thresholds: { high: 90, low: 85, break: null },
};
