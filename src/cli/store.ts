import { existsSync } from 'node:fs';
import { pgliteStore } from '../durable/pglite-store.js';
import { postgresStore } from '../durable/postgres-store.js';
import type { DurableStore } from '../durable/store.js';

/** A bad `--store`: a usage error. */
export class UsageError extends Error {}

/**
 * The store `--store` names: `pglite:DIR` (an existing folder, unless
 * `create`) or a `postgres://` / `postgresql://` URL. Only `migrate` may
 * change the schema: the others open it with `migrate: false`.
 */
export function openStore(spec: string, schema: string, migrate: boolean): DurableStore {
  if (spec.startsWith('pglite:')) {
    const dataDir = spec.slice('pglite:'.length);
    if (dataDir === '') throw new UsageError('--store pglite: needs a folder, e.g. pglite:./data');
    // PGlite would create a new database in a missing folder: only migrate does that.
    if (!migrate && !existsSync(dataDir)) throw new Unreachable(`no PGlite data folder at ${dataDir}`);
    return pgliteStore({ dataDir, schema, migrate });
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    // The tool's own errors are reported once, by the command; idle-connection noise is not.
    return postgresStore({ connectionString: spec, schema, max: 2, migrate, onError: () => {} });
  }
  throw new UsageError(`--store must be pglite:DIR or a postgres:// URL, got ${JSON.stringify(spec)}`);
}

/** The store cannot be reached. */
export class Unreachable extends Error {}
