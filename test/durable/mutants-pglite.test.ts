/**
 * PGlite's store, and the folder lock's portable fallback, in this process.
 * The other durable tests may run on a PostgreSQL server instead (a mutation
 * run shares one, see test/durable/support.ts): these always open PGlite.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SCHEMA_VERSION, SchemaVersionError, pgliteStore } from '../../src/durable/index.js';
import { lockFolder } from '../../src/durable/folder-lock.js';
import { pgliteDataDir } from '../support/pglite-template.js';
import { lockFileFolders } from './lock-file-folders.js';

describe('pgliteStore', () => {
  it('opens, runs statements and READ COMMITTED transactions, notifies, and closes on the last release', async () => {
    const folder = await pgliteDataDir();
    const store = pgliteStore({ dataDir: folder.dataDir, schema: 'mine' });
    try {
      expect(() => store.query('SELECT 1')).toThrow('pgliteStore: the store is not open');
      await store.acquire();
      await store.acquire(); // a second user shares it
      expect(await store.query('SELECT max(version) AS v FROM mine.schema_version')).toEqual([{ v: SCHEMA_VERSION }]);
      expect(await store.query('SELECT $1::int + 1 AS n', [41])).toEqual([{ n: 42 }]);
      // The session's default is stricter: every transaction still states its own level.
      await store.query(`SET default_transaction_isolation = 'serializable'`);
      expect(await store.transaction((q) => q('SHOW transaction_isolation'))).toEqual([{ transaction_isolation: 'read committed' }]);
      expect(await store.transaction((q) => q('SELECT $1::text AS t', ['x']))).toEqual([{ t: 'x' }]);
      await store.query('CREATE TABLE mine.t (n int)');
      await expect(
        store.transaction(async (q) => {
          await q('INSERT INTO mine.t VALUES (1)');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.query('SELECT count(*)::int AS n FROM mine.t')).toEqual([{ n: 0 }]);

      const heard: string[] = [];
      const unlisten = await store.listen('mine', (payload) => heard.push(payload), () => {});
      await store.query(`SELECT pg_notify('mine', 'one'), pg_notify('other', 'no')`);
      await expect.poll(() => heard).toEqual(['one']);
      await unlisten();
      await store.query(`SELECT pg_notify('mine', 'two')`);
      await store.query('SELECT 1');
      expect(heard).toEqual(['one']);

      await store.release();
      expect(await store.query('SELECT 1 AS one')).toEqual([{ one: 1 }]); // one user left
      await store.release();
      expect(() => store.query('SELECT 1')).toThrow('pgliteStore: the store is not open');
      // Closed means the folder is free again: another store opens it, and so does this one.
      const next = pgliteStore({ dataDir: folder.dataDir, schema: 'mine' });
      await next.acquire();
      expect(await next.query('SELECT count(*)::int AS n FROM mine.t')).toEqual([{ n: 0 }]);
      await expect(store.acquire()).rejects.toThrow(/already open in this process/);
      await next.release();
    } finally {
      folder.remove();
    }
  });

  it('a refused schema leaves the folder unlocked and the store closed', async () => {
    const folder = await pgliteDataDir();
    try {
      const refusing = pgliteStore({ dataDir: folder.dataDir, migrate: false });
      await expect(refusing.acquire()).rejects.toThrow(SchemaVersionError);
      expect(() => refusing.query('SELECT 1')).toThrow('not open');
      const migrating = pgliteStore({ dataDir: folder.dataDir });
      await migrating.acquire();
      expect(await migrating.query('SELECT max(version) AS v FROM xstate_expire.schema_version')).toEqual([{ v: SCHEMA_VERSION }]);
      await migrating.release();
    } finally {
      folder.remove();
    }
  });
});

describe('the folder lock where no abstract socket exists (a lock file with the PID)', () => {
  const folder = lockFileFolders();

  it('writes its PID, refuses a second store of this process, and removes the file on release', async () => {
    const dir = folder();
    const release = await lockFolder(dir);
    expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    await expect(lockFolder(dir)).rejects.toThrow(`pgliteStore: ${dir} is already open in this process; share one store between managers`);
    expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    (await lockFolder(dir))();
  });

  it('a live other process holding it refuses; a dead one, our own PID or garbage is taken over', async () => {
    const dir = folder();
    const live = process.ppid; // alive while we run
    writeFileSync(`${dir}.lock`, String(live));
    await expect(lockFolder(dir)).rejects.toThrow(`pgliteStore: ${dir} is open in process ${live}; PGlite allows one process per dataDir`);
    expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(live));
    // The refusal held nothing in this process either.
    writeFileSync(`${dir}.lock`, 'not a pid');
    const release = await lockFolder(dir);
    expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    release();
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    for (const stale of [String(dead), String(process.pid)]) {
      writeFileSync(`${dir}.lock`, stale);
      const again = await lockFolder(dir);
      expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
      again();
    }
  });

  it('a folder whose parent is missing: the error of the file system, and nothing held', async () => {
    const dir = join(folder(), 'missing', 'db');
    await expect(lockFolder(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lockFolder(dir)).rejects.toMatchObject({ code: 'ENOENT' }); // not "already open in this process"
  });
});

describe('pgliteStore where PGlite runs initdb itself (no template)', () => {
  const roots: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  });
  const newRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'xstate-expire-initdb-'));
    roots.push(root);
    return root;
  };
  const opened = async (store: ReturnType<typeof pgliteStore>) => {
    await store.acquire();
    try {
      return await store.query(`SELECT count(*)::int AS n FROM ${store.schema}.entities`);
    } finally {
      await store.release();
    }
  };

  it('a bad templateCache is a TypeError', () => {
    for (const bad of ['', 5, true, null]) {
      expect(() => pgliteStore({ templateCache: bad as never }), String(bad)).toThrow(
        /^pgliteStore: templateCache must be a non-empty string or false$/,
      );
    }
  });

  it('in memory with templateCache: false: no folder lock, no cache, PGlite’s own initdb, without a word', { timeout: 300_000 }, async () => {
    const warn = vi.spyOn(process, 'emitWarning');
    expect(await opened(pgliteStore({ templateCache: false }))).toEqual([{ n: 0 }]);
    expect(warn).not.toHaveBeenCalled();
  });

  it.skipIf(process.platform === 'win32')('in memory with a template cache that cannot be used: a warning says why, and PGlite runs initdb', { timeout: 300_000 }, async () => {
    const cache = join(newRoot(), 'cache');
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(await opened(pgliteStore({ templateCache: cache }))).toEqual([{ n: 0 }]);
    expect(warn).toHaveBeenCalledWith(
      `pgliteStore: the template cache ${cache} is not private to this user; not using it; PGlite runs initdb in this process instead`,
      'XstateExpireWarning',
    );
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a dataDir PGlite reads as a URL (memory://) is left to PGlite: no folder of that name, no template', { timeout: 300_000 }, async () => {
    const cache = join(newRoot(), 'cache');
    const stray = resolve('memory:'); // what seeding it as a path would make, in the working folder
    try {
      expect(await opened(pgliteStore({ dataDir: 'memory://mutants', templateCache: cache }))).toEqual([{ n: 0 }]);
      expect(existsSync(stray)).toBe(false);
      expect(existsSync(cache)).toBe(false);
    } finally {
      rmSync(stray, { recursive: true, force: true });
    }
  });

  it('templateCache: false: a new folder is initialised by PGlite, without a word', { timeout: 300_000 }, async () => {
    const dataDir = join(newRoot(), 'db');
    const warn = vi.spyOn(process, 'emitWarning');
    expect(await opened(pgliteStore({ dataDir, templateCache: false }))).toEqual([{ n: 0 }]);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(warn).not.toHaveBeenCalled();
  });

  it.skipIf(process.platform === 'win32')('a template cache that cannot be used: a warning says why, and PGlite initialises the folder', { timeout: 300_000 }, async () => {
    const root = newRoot();
    const cache = join(root, 'cache');
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(await opened(pgliteStore({ dataDir: join(root, 'db'), templateCache: cache }))).toEqual([{ n: 0 }]);
    expect(warn).toHaveBeenCalledWith(
      `pgliteStore: the template cache ${cache} is not private to this user; not using it; PGlite runs initdb in this process instead`,
      'XstateExpireWarning',
    );
    expect(readdirSync(cache)).toEqual([]);
  });
});
