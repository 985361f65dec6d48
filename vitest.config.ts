import { defineConfig } from 'vitest/config';
import { useMemoryScratch } from './test/support/scratch-dir.js';
import { orderedSequencer } from './test/support/sequencer.js';

/**
 * The files that start processes and databases, longest first. The workers take
 * files from one queue, so the long ones must start first: otherwise one worker
 * ends with a long file while the others idle. (Vitest orders by the durations it
 * cached, but a clean clone, as in CI, has none.)
 */
const SLOW_FIRST = [
  // Ordered by file durations (issue 20: per-file CPU alone, and a whole run, on a busy machine).
  'test/durable/manager-postgres.test.ts',
  'test/durable/mutants-pglite.test.ts',
  'test/durable/pglite-open.test.ts',
  'test/package.test.ts',
  'test/durable/mutants-pglite-template.test.ts',
  'test/durable/processes.test.ts',
  'test/cli.test.ts',
  'test/registry-process.test.ts',
  'test/durable/manager-pglite.test.ts',
  'test/durable/chaos.test.ts',
  'test/durable/schema-versions.test.ts',
  'test/properties/engines.test.ts',
  'test/durable/new-many.test.ts',
  'test/properties/commands.test.ts',
  'test/model/model.test.ts',
  'test/postgres-harness.test.ts',
  'test/durable/races.test.ts',
  'test/durable/postgres-promises.test.ts',
  'test/durable/retries.test.ts',
  'test/registry-ops.test.ts',
  'test/durable/telemetry.test.ts',
  'test/inspect-demo.test.ts',
  'test/durable/input.test.ts',
  'test/durable/folder-lock.test.ts',
];

// Before the workers start, so that they and every process they start inherit it.
useMemoryScratch();

/** StrykerJS runs the tests in worker threads of its own, each file isolated, and takes no execArgv. */
const underStryker = process.env['STRYKER_MUTATOR_WORKER'] !== undefined;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Made once per run, before the files start: the PGlite and PostgreSQL template data
    // folders that each durable test copies instead of running initdb.
    globalSetup: ['test/global-setup.ts'],
    // Ceilings for hangs, not speed checks: tests wait on conditions and end as soon as
    // those hold. A file taking 3 s on an idle machine takes many times that on a busy
    // one (two cores shared with three CPU hogs), and must still pass there.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Three workers on two cores: the slow files spend much of their time waiting on
    // processes, servers and timers (measured: 47 s against 55 s with two).
    maxWorkers: 3,
    // Files share a worker's module cache instead of loading xstate and src/ afresh each
    // (a second of CPU per file). Tests restore what they change: timers, listeners, env.
    isolate: underStryker,
    sequence: { sequencer: orderedSequencer(SLOW_FIRST) },
    // PGlite is 10 MB of WebAssembly: V8's optimizing tier would recompile it in the
    // background, CPU that a test file living seconds never earns back (−13 s of CPU).
    execArgv: underStryker ? [] : ['--liftoff-only'],
  },
});
