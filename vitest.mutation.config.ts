/**
 * Vitest as `npm run mutate:durable` runs it (stryker.durable.config.mjs): the
 * project's config, with two changes for a run of one mutant after another.
 *
 * - Files share their worker's module cache: Stryker switches mutants at run
 *   time (a global the instrumented code reads), so a fresh import per file
 *   and mutant, a second of CPU each, buys nothing. The durable tests keep no
 *   module state from one run to the next but counters of unique names.
 * - The fast, targeted files first: Stryker stops a mutant's run at its first
 *   failing test, so the order decides how long a killed mutant takes.
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import { orderedSequencer } from './test/support/sequencer.js';
import base from './vitest.config.js';

/** Fastest first: no database, then one schema per file, then processes and PGlite. */
const ORDER = [
  'test/durable/mutants-wake-ups.test.ts',
  'test/durable/mutants-heartbeat.test.ts',
  'test/durable/mutants-close-runner.test.ts',
  'test/durable/mutants-input.test.ts',
  'test/durable/mutants-closers.test.ts',
  'test/durable/mutants-engine.test.ts',
  'test/durable/mutants-store.test.ts',
  'test/durable/mutants-manager.test.ts',
  'test/durable/mutants-manager-api.test.ts',
  'test/durable/mutants-protocol.test.ts',
  'test/durable/mutants-admin.test.ts',
  'test/durable/mutants-plans.test.ts',
  'test/durable/mutants-postgres.test.ts',
  'test/durable/mutants-postgres-listen.test.ts',
  'test/durable/mutants-postgres-pool.test.ts',
  'test/durable/input.test.ts',
  'test/durable/manager-postgres.test.ts',
  'test/durable/schema-versions.test.ts',
  'test/durable/races.test.ts',
  'test/durable/postgres-promises.test.ts',
  'test/durable/retries.test.ts',
  'test/durable/pause-timeout.test.ts',
  'test/durable/new-many.test.ts',
  'test/durable/completion-batches.test.ts',
  'test/durable/mutants-folder-lock.test.ts',
  'test/durable/mutants-pglite-template.test.ts',
  'test/durable/mutants-pglite.test.ts',
  'test/durable/folder-lock.test.ts',
];

export default mergeConfig(base, defineConfig({ test: { isolate: false, sequence: { sequencer: orderedSequencer(ORDER) } } }));
