/**
 * The schema of an earlier version, loaded from its SQL dump
 * (test/fixtures/schema-v1.sql) into PGlite or PostgreSQL, as a store that
 * today's library opens.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type DurableStore, pgliteStore, postgresStore } from '../../src/durable/index.js';
import { pgliteFixtureTemplate } from '../support/pglite-template.js';

/** The text of the dump `name` under test/fixtures. */
export const dump = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/** The dump's clock when it was taken (its `-- taken at` line). */
export function takenAt(name = 'schema-v1.sql'): number {
  return Number(/-- taken at now_ms\(\) = (\d+)/.exec(dump(name))![1]);
}

let schemas = 0;
/** Runs `sql` on a new database (PGlite in a temp dir) or a new schema (PostgreSQL at `connectionString`). */
export async function loadSql(
  sql: (schema: string) => string,
  target: { kind: 'pglite' } | { kind: 'postgres'; connectionString: string },
  options: { migrate?: boolean } = {},
): Promise<{ store: DurableStore; cleanup(): Promise<void>; where: string; schema: string }> {
  if (target.kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-fixture-'));
    const dataDir = join(dir, 'db');
    // A copy of the template that ran this SQL: made once per machine, as the template is.
    cpSync(await pgliteFixtureTemplate(sql('xstate_expire')), dataDir, { recursive: true });
    return {
      store: pgliteStore({ dataDir, ...options }),
      schema: 'xstate_expire',
      where: `pglite:${dataDir}`,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  // Unique on a server shared by runs of this file (mutation testing re-runs it in one process).
  const schema = `fixture_${process.pid}_${Date.now().toString(36)}_${schemas++}`;
  const client = new pg.Client({ connectionString: target.connectionString });
  await client.connect();
  try {
    await client.query(sql(schema));
  } finally {
    await client.end();
  }
  return {
    store: postgresStore({ connectionString: target.connectionString, schema, ...options }),
    schema,
    where: target.connectionString,
    cleanup: async () => {},
  };
}

/** Loads the dump `name` (default the version 1 schema). */
export function loadFixture(
  target: Parameters<typeof loadSql>[1],
  options: { migrate?: boolean } = {},
  name = 'schema-v1.sql',
): ReturnType<typeof loadSql> {
  return loadSql((schema) => dump(name).replaceAll('__SCHEMA__', schema), target, options);
}
