/**
 * The `xstate-expire` command, run in this process and as a child process (the
 * source, bundled) against a store holding the 0.1.0 fixture: PGlite, and
 * PostgreSQL where a server can start.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { SCHEMA_VERSION } from '../src/durable/index.js';
import { dump, loadFixture, loadSql } from './durable/fixture.js';
import { databaseKinds } from './durable/support.js';
import { bundled } from './support/bundle.js';
import { type PostgresServer, startPostgres } from './support/postgres.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<number>();

/**
 * Runs the CLI in this process, as `main.ts` does, with its output captured:
 * the commands' behaviour without a process start and a WebAssembly load per
 * call (seconds each on two cores). {@link bin} runs the real command.
 */
async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (line) => void (stdout += `${line}\n`), err: (line) => void (stderr += `${line}\n`) });
  return { code, stdout, stderr };
}

/** Runs the command as a child process to its exit; killed by its PID past a generous ceiling. */
function bin(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // src/cli/main.ts bundled (see test/support/bundle.ts): it starts on plain `node`, without tsx.
    const child = spawn(process.execPath, ['--liftoff-only', bundled('cli'), ...args], { cwd: root });
    children.add(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const ceiling = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(ceiling);
      children.delete(child.pid!);
      resolve({ code, stdout, stderr });
    });
  });
}
afterAll(() => {
  for (const pid of children) process.kill(pid, 'SIGKILL');
});

const lines = (text: string) => text.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('xstate-expire without a store', { timeout: 120_000 }, () => {
  it('prints help, and exits 2 on bad usage', async () => {
    const help = await cli('--help');
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toMatch(/Commands:[\s\S]*status[\s\S]*retry <id>[\s\S]*migrate/);
    expect((await cli('list', '--help')).stdout).toMatch(/--state <s>/);
    const results = await Promise.all([
      cli('frob', '--store', 'pglite:x'),
      cli('get', '--store', 'pglite:x'), // no id
      cli('status'), // no store
      cli('status', '--store', 'mysql://x'),
      cli('list', '--store', 'pglite:x', '--limit', '-1'),
      cli('status', '--store', 'pglite:x', '--bogus'),
    ]);
    for (const result of results) expect(result.code, result.stderr).toBe(2);
    expect(results[3]!.stderr).toMatch(/--store must be pglite:DIR or a postgres:\/\/ URL/);
  });

  it('exits 3 when the store is unreachable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-cli-'));
    try {
      const [missing, refused] = await Promise.all([
        cli('status', '--store', `pglite:${join(dir, 'none')}`),
        cli('status', '--store', 'postgres://postgres@127.0.0.1:1/postgres'),
      ]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toMatch(/store unreachable: no PGlite data folder/);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/store unreachable/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(databaseKinds)('xstate-expire on %s', { timeout: 240_000 }, (kind) => {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    if (kind === 'postgres') server = await startPostgres({ fsync: false });
  }, 60_000);
  afterAll(() => server?.stop());
  const target = () => (kind === 'pglite' ? ({ kind } as const) : ({ kind, connectionString: server!.connectionString } as const));
  /**
   * Every call on the last store of the run (PostgreSQL where a server can
   * start, where a call costs a connection); on the other (PGlite, where each
   * costs a PGlite start, half a second of CPU) each command once, reading and
   * writing through that store, and not again for the outcomes that differ
   * only in the command's own logic (a text table, a limit, ids gone or not
   * failed), which the last store checks on the same fixture.
   */
  const everyCall = kind === databaseKinds.at(-1);

  it('status, list, get and delete the entities of the 0.1.0 fixture', async () => {
    const { where, schema, cleanup } = await loadFixture(target());
    const store = ['--store', where, '--schema', schema, '--namespace', 'fixture'];
    try {
      // 0.1.0 wrote version 1: the CLI refuses it until it is migrated (exit 4).
      expect((await bin('status', ...store)).code).toBe(4); // the real command, in a process of its own
      const migrated = await cli('migrate', '--store', where, '--schema', schema);
      expect(migrated.code, migrated.stderr).toBe(0);
      const status = await cli('status', ...store, '--json');
      expect(status.code, status.stderr).toBe(0);
      expect(lines(status.stdout)).toEqual([
        expect.objectContaining({
          namespace: 'fixture',
          schemaVersion: SCHEMA_VERSION,
          states: { active: 2, paused: 1, 'expired.queued': 1, 'expired.closing': 1 },
          earliestDeadline: expect.any(Number),
        }),
      ]);

      const paused = await cli('list', ...store, '--state', 'paused', '--json');
      expect(lines(paused.stdout).map((e) => [e.id, e.state, e.data])).toEqual([['paused-1', 'paused', [1, 2, 3]]]);
      if (everyCall) {
        const expired = await cli('list', ...store, '--state', 'expired');
        expect(expired.stdout.split('\n')[0]).toMatch(/^ID\s+STATE\s+DEADLINE/);
        expect(expired.stdout).toMatch(/expired-1\s+expired\.closing/);
        expect(expired.stdout).toMatch(/expired-2\s+expired\.queued/);
        const limited = await cli('list', ...store, '--limit', '2', '--json');
        expect(lines(limited.stdout).map((e) => e.id)).toEqual(['active-1', 'active-2']);
      }

      const got = await cli('get', 'active-2', ...store);
      expect(got.code).toBe(0);
      expect(got.stdout).toMatch(/data\s+\{"renewed":true\}/);

      // Delete goes through the statechart: a live one goes; a running close is not live, so not deleted.
      const deleted = await cli('delete', 'active-1', ...store, '--json');
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(lines(deleted.stdout)).toEqual([{ id: 'active-1', deleted: true }]);
      if (everyCall) {
        // One at a time: a PGlite folder is open in one process at a time.
        expect((await cli('delete', 'active-1', ...store)).code).toBe(1);
        expect((await cli('delete', 'expired-1', ...store)).code).toBe(1);
        expect((await cli('get', 'active-1', ...store)).code).toBe(1);
        // Retry takes failed entities only (the fixture has none: see test/durable/retries.test.ts).
        const notFailed = await cli('retry', 'active-2', ...store, '--json');
        expect([notFailed.code, lines(notFailed.stdout)]).toEqual([1, [{ id: 'active-2', retried: false }]]);
      }
      // Nothing was claimed or closed by the tool: the queued close still waits for a manager.
      const after = await cli('status', ...store);
      expect(after.stdout).toMatch(/active\s+1\n/);
      expect(after.stdout).toMatch(/expired\.closing\s+1\n/);
      expect(after.stdout).toMatch(/expired\.queued\s+1\n/);
    } finally {
      await cleanup();
    }
  });

  it('migrate creates a schema, reports one already there, and refuses a newer one (exit 4)', async () => {
    const fresh = await loadSql(() => 'SELECT 1', target());
    const newer = await loadSql(
      (schema) => `${dump('schema-v1.sql').replaceAll('__SCHEMA__', schema)}\nINSERT INTO ${schema}.schema_version VALUES (${SCHEMA_VERSION + 1});`,
      target(),
    );
    try {
      const args = ['--store', fresh.where, '--schema', fresh.schema];
      const before = await cli('status', ...args);
      expect(before.code).toBe(4);
      expect(before.stderr).toMatch(/run `npx xstate-expire migrate/);
      const created = await cli('migrate', ...args, '--json');
      expect(created.code, created.stderr).toBe(0);
      expect(lines(created.stdout)).toEqual([{ schema: fresh.schema, from: 0, to: SCHEMA_VERSION }]);
      expect((await cli('migrate', ...args)).stdout).toMatch(`is at version ${SCHEMA_VERSION} already`);
      const refused = await cli('migrate', '--store', newer.where, '--schema', newer.schema);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(`version ${SCHEMA_VERSION + 1}, newer than this library's (${SCHEMA_VERSION})`);
    } finally {
      await fresh.cleanup();
      await newer.cleanup();
    }
  });
});
