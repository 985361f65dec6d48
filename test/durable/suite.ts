/**
 * The durable manager's suite on one store, opened once for both parts: the Go
 * semantics over rows (semantics.ts), then the model paths generated from the
 * statechart (model.ts). One file per store runs it, so that the two run in parallel.
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
    describe(`model-based paths (depth ${DEPTH})`, () => modelPaths(database));
  });
}
