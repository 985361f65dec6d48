/**
 * Self-test of test/support/postgres.ts against a real server, through psql:
 * start, stop, crash (SIGKILL) and restart on the same data directory.
 * Outside CI it is skipped when the server binaries are missing; in CI
 * (CI set) it fails instead, so a missing install is not hidden.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type PostgresServer, findPostgresBin, postgresTool, startPostgres } from './support/postgres.js';

const exec = promisify(execFile);
const skip = !findPostgresBin() && !process.env['CI'];

/** Runs SQL through psql; returns its unaligned, tuples-only output. */
async function psql(server: PostgresServer, sql: string): Promise<string> {
  const { stdout } = await exec(
    postgresTool('psql'),
    ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
    { env: { ...process.env, PGCONNECT_TIMEOUT: '5' } },
  );
  return stdout.trim();
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(skip)('postgres test harness', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('starts, survives a SIGKILL with its data, restarts and stops', async () => {
    // fsync off still keeps every acknowledged commit across a process crash.
    let server = await startPostgres({ fsync: false });
    cleanups.push(() => server.stop());
    expect(server.connectionString).toBe(`postgresql://postgres@127.0.0.1:${server.port}/postgres`);
    expect(await psql(server, 'select 1')).toBe('1');
    expect(await psql(server, 'show fsync')).toBe('off');

    await psql(server, 'create table kept (id int primary key); insert into kept values (1), (2)');
    const { pid, port, dataDir } = server;
    await server.kill();
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);

    server = await server.restart();
    expect(server.dataDir).toBe(dataDir);
    expect(server.pid).not.toBe(pid);
    expect(server.port).toBe(port);
    expect(await psql(server, 'select count(*) from kept')).toBe('2');

    const second = server.pid;
    await server.stop();
    expect(alive(second)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    await server.stop(); // idempotent
  });

  it('keeps a caller-given data dir, and restarts after a clean stop', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'xstate-expire-pg-test-'));
    chmodSync(parent, 0o755); // as root, the postgres user must be able to enter it
    cleanups.push(() => rmSync(parent, { recursive: true, force: true }));
    const dataDir = join(parent, 'data');

    let server = await startPostgres({ dataDir });
    cleanups.push(() => server.stop());
    expect(await psql(server, 'show fsync')).toBe('on'); // the default
    // …with crash recovery's sync in one syncfs, not a fsync per file.
    if (process.platform === 'linux') expect(await psql(server, 'show recovery_init_sync_method')).toBe('syncfs');
    await psql(server, "create table kept (v text); insert into kept values ('x')");

    server = await server.restart();
    expect(await psql(server, 'select v from kept')).toBe('x');
    await server.stop();
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
  });

  it('names the install command when the binaries are missing', async () => {
    const saved = process.env['POSTGRES_BIN'];
    process.env['POSTGRES_BIN'] = join(tmpdir(), 'no-such-postgres-bin');
    try {
      expect(findPostgresBin()).toBeUndefined();
      await expect(startPostgres()).rejects.toThrow('apt-get install -y postgresql-15');
    } finally {
      if (saved === undefined) delete process.env['POSTGRES_BIN'];
      else process.env['POSTGRES_BIN'] = saved;
    }
  });
});
