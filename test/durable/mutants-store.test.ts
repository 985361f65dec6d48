/**
 * The schema's migrations as statements: what `migrate` runs for each version
 * it finds, and what it refuses, on a store that records instead of running.
 */
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, SchemaVersionError } from '../../src/durable/index.js';
import { type Query, migrate, schemaVersion, splitStatements } from '../../src/durable/store.js';

/** A store at schema version `version` (0: none), recording the statements of its one transaction. */
function at(version: number) {
  const statements: string[] = [];
  const query: Query = async (sql, params) => {
    statements.push(params ? `${sql} -- ${JSON.stringify(params)}` : sql);
    if (sql.startsWith('SELECT to_regclass')) return [{ present: version > 0 }];
    if (sql.startsWith('SELECT max(version)')) return [{ version }];
    return [];
  };
  return { store: { schema: 'sx', transaction: <T>(work: (q: Query) => Promise<T>) => work(query) }, statements };
}

describe('migrate', () => {
  it('creates the schema from nothing: under the lock, each version in order, statement by statement', async () => {
    expect(SCHEMA_VERSION).toBe(4);
    const { store, statements } = at(0);
    expect(await migrate(store)).toEqual({ from: 0, to: 4 });
    expect(statements[0]).toBe('SELECT pg_advisory_xact_lock(hashtext($1)) -- ["xstate-expire:sx"]');
    expect(statements[1]).toBe('SELECT to_regclass($1) IS NOT NULL AS present -- ["sx.schema_version"]');
    const changes = statements.slice(2);
    expect(changes.map((s) => s.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'CREATE SCHEMA IF',
      'CREATE TABLE IF',
      'CREATE TABLE sx.entities',
      'CREATE UNIQUE INDEX',
      'CREATE INDEX entities_due',
      'CREATE INDEX entities_lease',
      'CREATE INDEX entities_owner',
      'CREATE FUNCTION sx.now_ms()',
      'INSERT INTO sx.schema_version',
      'ALTER TABLE sx.entities',
      'CREATE SEQUENCE sx.generations',
      "SELECT setval('sx.generations', greatest(",
      'INSERT INTO sx.schema_version',
      'ALTER TABLE sx.entities',
      'ALTER TABLE sx.entities',
      'ALTER TABLE sx.entities',
      'INSERT INTO sx.schema_version',
      'UPDATE sx.entities SET',
      'INSERT INTO sx.schema_version',
    ]);
    expect(changes.at(-11)).toBe('INSERT INTO sx.schema_version (version) VALUES ($1) -- [1]');
    expect(changes.at(-7)).toBe('INSERT INTO sx.schema_version (version) VALUES ($1) -- [2]');
    expect(changes.at(-3)).toBe('INSERT INTO sx.schema_version (version) VALUES ($1) -- [3]');
    expect(changes.at(-1)).toBe('INSERT INTO sx.schema_version (version) VALUES ($1) -- [4]');
    // Version 4: the pauses' start leases become their due time (the statechart's pause timeout).
    expect(changes.at(-2)).toMatch(/^UPDATE sx\.entities SET due = lease_until, owner = NULL.*\n\s+WHERE state = 'paused' AND lease_event = 'start'$/s);
    // Whole statements: no comment line, no trailing semicolon, a function body kept in one piece.
    for (const statement of changes) {
      expect(statement).toBe(statement.trim());
      expect(statement.endsWith(';')).toBe(false);
      expect(statement.split('\n').some((line) => line.trim().startsWith('--'))).toBe(false);
    }
    expect(changes[7]).toBe(
      'CREATE FUNCTION sx.now_ms() RETURNS double precision\n      LANGUAGE sql VOLATILE AS $$ SELECT extract(epoch FROM clock_timestamp()) * 1000 $$',
    );
    expect(changes[2]).toMatch(/^CREATE TABLE sx\.entities \(\n\s+namespace text NOT NULL,\n\s+id text NOT NULL,\n\s+generation bigint NOT NULL,/);
    expect(changes[2]).toMatch(/PRIMARY KEY \(namespace, id, generation\)\n\s+\)$/);
  });

  it('brings version 1 to 4 with the later steps only, version 2 with the last two, and leaves the current version alone', async () => {
    const old = at(1);
    expect(await migrate(old.store)).toEqual({ from: 1, to: 4 });
    expect(old.statements.filter((s) => s.startsWith('CREATE TABLE sx.entities'))).toEqual([]);
    expect(old.statements.some((s) => s.startsWith('ALTER TABLE sx.entities ADD COLUMN holders'))).toBe(true);
    expect(old.statements.some((s) => s.startsWith('ALTER TABLE sx.entities ADD COLUMN attempt'))).toBe(true);
    expect(old.statements.at(-1)).toBe('INSERT INTO sx.schema_version (version) VALUES ($1) -- [4]');
    const second = at(2);
    expect(await migrate(second.store)).toEqual({ from: 2, to: 4 });
    expect(second.statements.some((s) => s.startsWith('ALTER TABLE sx.entities ADD COLUMN holders'))).toBe(false);
    expect(second.statements.filter((s) => s.startsWith('ALTER TABLE'))).toHaveLength(3);
    const third = at(3);
    expect(await migrate(third.store)).toEqual({ from: 3, to: 4 });
    const thirdChanges = third.statements.filter((s) => !s.startsWith('SELECT') && !/^CREATE \w+ IF NOT EXISTS/.test(s));
    expect(thirdChanges.map((s) => s.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'UPDATE sx.entities SET',
      'INSERT INTO sx.schema_version',
    ]);
    const current = at(4);
    expect(await migrate(current.store, { apply: false })).toEqual({ from: 4, to: 4 });
    expect(await migrate(current.store)).toEqual({ from: 4, to: 4 });
    expect(current.statements.filter((s) => !s.startsWith('SELECT'))).toEqual([]);
  });

  it('refuses an older schema without apply, and a newer one always, changing nothing', async () => {
    for (const [version, apply] of [
      [0, false],
      [1, false],
      [2, false],
      [3, false],
      [5, true],
      [5, false],
    ] as const) {
      const { store, statements } = at(version);
      const refusal = migrate(store, { apply });
      await expect(refusal).rejects.toThrow(SchemaVersionError);
      await expect(refusal).rejects.toMatchObject({ schema: 'sx', found: version, expected: 4 });
      expect(statements.filter((s) => !s.startsWith('SELECT'))).toEqual([]);
    }
  });

  it('schemaVersion: 0 without the table, else the highest version recorded', async () => {
    const answers = (present: unknown, version: unknown): Query =>
      async (sql) => (sql.startsWith('SELECT to_regclass') ? [{ present }] : [{ version }]);
    expect(await schemaVersion(answers(false, 5), 'sx')).toBe(0);
    expect(await schemaVersion(answers(null, 5), 'sx')).toBe(0);
    expect(await schemaVersion(answers(true, 5), 'sx')).toBe(5);
    expect(await schemaVersion(answers(true, '2'), 'sx')).toBe(2);
    expect(await schemaVersion(answers(true, null), 'sx')).toBe(0);
  });

  it('splitStatements: on a semicolon that ends a line (spaces after it too), never inside a $$ body over several lines', () => {
    const sql = `
      -- a comment line
      CREATE TABLE t (a int);${'  '}
      CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM 1;
        RETURN 2;
      END $$;
      SELECT 'a;b' AS s;
      SELECT 3
    `;
    expect(splitStatements(sql)).toEqual([
      'CREATE TABLE t (a int)',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n      BEGIN\n        PERFORM 1;\n        RETURN 2;\n      END $$',
      "SELECT 'a;b' AS s",
      'SELECT 3',
    ]);
    expect(splitStatements('SELECT 1;\n')).toEqual(['SELECT 1']);
  });
});
