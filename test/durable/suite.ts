/**
 * The durable manager's suite on one store, opened once for both parts: the Go
 * semantics over rows (semantics.ts), then the model paths generated from the
 * statechart (model.ts): every path on one store, a sample on the other (see
 * samplePaths). One file per store runs it, so that the two run in parallel.
 */
import { describe } from 'vitest';
import { DEPTH, modelPaths } from './model.js';
import { semantics } from './semantics.js';
import { databaseKinds, useDatabase } from './support.js';

export function durableManagerSuite(kind: 'pglite' | 'postgres'): void {
  // PostgreSQL where a server can start (always in CI); PGlite always.
  describe.skipIf(!(databaseKinds as readonly string[]).includes(kind))(`durable manager on ${kind}`, () => {
    const database = useDatabase(kind);
    describe('semantics', () => semantics(database));
    // Not in a mutation run (npm run mutate:durable): a minute per surviving mutant; the
    // semantics and the targeted tests are what it is scored on (docs/testing.md).
    // Every path on the last store of the run (PostgreSQL where a server can start: its pool
    // runs a close's completion beside the passes, as in production), a sample on the other.
    describe.skipIf(process.env['XSTATE_EXPIRE_MUTATION_RUN'] !== undefined)(`model-based paths (depth ${DEPTH})`, () =>
      modelPaths(database, { sampled: kind !== databaseKinds.at(-1) }),
    );
  });
}
