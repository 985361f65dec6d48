// `npm run mutate:durable`: StrykerJS mutation testing of src/durable (docs/testing.md,
// "Mutation testing"). Run through scripts/mutate-durable.ts, which starts the one
// PostgreSQL server of the run and hands its URL to the tests.

process.env.FC_SEED ??= '20240601';
process.env.FC_RUNS ??= '100';
// The tests leave out what costs a minute per mutant (test/durable/suite.ts).
process.env.XSTATE_EXPIRE_MUTATION_RUN = '1';

if (!process.env.XSTATE_EXPIRE_TEST_POSTGRES_URL) {
  throw new Error('Run it as `npm run mutate:durable`: it starts the PostgreSQL server the tests share.');
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/durable/**/*.ts',
    // Re-exports only.
    '!src/durable/index.ts',
  ],
  // The durable tests that run src/durable in this process (a mutant is not active in
  // the child processes of processes/chaos/folder-lock's holders). The manager's suite
  // runs on PostgreSQL only: its PGlite twin runs the same tests. Not the telemetry
  // test: its takeover races the heartbeat on a loaded server (src/telemetry has its own).
  testFiles: [
    'test/durable/manager-postgres.test.ts',
    'test/durable/postgres-promises.test.ts',
    'test/durable/races.test.ts',
    'test/durable/input.test.ts',
    'test/durable/folder-lock.test.ts',
    'test/durable/schema-versions.test.ts',
    'test/durable/retries.test.ts',
    'test/durable/pause-timeout.test.ts',
    'test/durable/new-many.test.ts',
    'test/durable/completion-batches.test.ts',
    'test/durable/mutants-manager-api.test.ts',
    'test/durable/mutants-*.test.ts',
  ],
  ignorePatterns: ['dist', 'docs/api', 'scratch', 'bench', 'reports', 'coverage', '*.tgz'],
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/stryker-durable-incremental.json',
  concurrency: 1,
  // A durable test waits on database round trips and timers: a mutant's run may
  // take longer than the dry run's on a loaded machine before it counts as hung.
  timeoutFactor: 1.5,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/durable.html' },
  jsonReporter: { fileName: 'reports/mutation/durable.json' },
  thresholds: { high: 90, low: 85, break: null },
};
