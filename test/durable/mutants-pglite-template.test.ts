/**
 * A new PGlite data folder seeded from the cached template (`seedFromTemplate`),
 * in this process: where the cache is, when a folder is left alone, what a
 * copy holds, which caches are refused, what a failed copy leaves, and a
 * damaged template made again by a child. They start from a cache holding a
 * copy of the tests' template, and the child that makes one again copies it
 * too (test/durable/pglite-open.test.ts has a child run initdb).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { pgliteStore } from '../../src/durable/index.js';
import { defaultTemplateCache, seedFromTemplate, templateTar } from '../../src/durable/pglite-template.js';
import { pgliteTemplate, templateMakerStandIn } from '../support/pglite-template.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }).version;
/** The template's folder in a cache: per PGlite version and layout. */
const TEMPLATE = `pglite-${VERSION}-v1`;

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true, maxRetries: 3 });
});
const newRoot = () => {
  const root = mkdtempSync(join(tmpdir(), 'xstate-expire-seed-'));
  roots.push(root);
  return root;
};

/** Every file under `dir` with its size, by relative path. */
function files(dir: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const path of readdirSync(dir, { recursive: true }) as string[]) {
    const stat = statSync(join(dir, path));
    if (stat.isFile()) found[path] = stat.size;
  }
  return found;
}

/** A private cache in `root` holding an intact template: a copy of the tests' own, with its manifest. */
async function readyCache(root: string): Promise<{ cache: string; data: string }> {
  const cache = join(root, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const data = join(cache, TEMPLATE, 'data');
  cpSync(await pgliteTemplate(), data, { recursive: true });
  writeFileSync(join(cache, TEMPLATE, 'manifest.json'), JSON.stringify(files(data)));
  return { cache, data };
}

/**
 * Until the test ends, the store makes templates with a stand-in for `node`
 * (see templateMakerStandIn): a child that copies the tests' template, a
 * folder `initdb` made, then runs the store's own script on the copy (it sets
 * shared_buffers), instead of `initdb` in WebAssembly, seconds of CPU twice.
 */
async function standInMaker(root: string): Promise<void> {
  if (process.platform === 'win32') return; // a script started by its shebang line: initdb there
  const { path } = await templateMakerStandIn(root, { script: true });
  const node = process.execPath;
  process.execPath = path;
  onTestFinished(() => void (process.execPath = node));
}

describe('the template cache folder', () => {
  const env = { ...process.env };
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  afterEach(() => {
    process.env['XDG_CACHE_HOME'] = env['XDG_CACHE_HOME'];
    process.env['LOCALAPPDATA'] = env['LOCALAPPDATA'];
    for (const name of ['XDG_CACHE_HOME', 'LOCALAPPDATA']) if (env[name] === undefined) delete process.env[name];
    Object.defineProperty(process, 'platform', platform);
  });

  it('$XDG_CACHE_HOME, else ~/.cache (an empty XDG_CACHE_HOME counts as unset); %LOCALAPPDATA% on Windows', () => {
    process.env['XDG_CACHE_HOME'] = '/var/cache/me';
    expect(defaultTemplateCache()).toBe('/var/cache/me/xstate-expire');
    process.env['XDG_CACHE_HOME'] = '';
    expect(defaultTemplateCache()).toBe(join(homedir(), '.cache', 'xstate-expire'));
    delete process.env['XDG_CACHE_HOME'];
    expect(defaultTemplateCache()).toBe(join(homedir(), '.cache', 'xstate-expire'));
    Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
    process.env['XDG_CACHE_HOME'] = '/var/cache/me';
    process.env['LOCALAPPDATA'] = '/local';
    expect(defaultTemplateCache()).toBe('/local/xstate-expire');
    delete process.env['LOCALAPPDATA'];
    expect(defaultTemplateCache()).toBe(join(homedir(), 'AppData', 'Local', 'xstate-expire'));
  });
});

describe('seedFromTemplate', () => {
  it('a folder that holds files is left alone, and no cache is even made', async () => {
    const root = newRoot();
    const dataDir = join(root, 'db');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'mine'), 'x');
    expect(await seedFromTemplate(dataDir, join(root, 'cache'))).toBe(false);
    expect(readdirSync(dataDir)).toEqual(['mine']);
    expect(existsSync(join(root, 'cache'))).toBe(false);
  });

  it('a new folder, or an empty one, becomes a copy of the intact template; nothing is left beside it', async () => {
    const root = newRoot();
    const { cache, data } = await readyCache(root);
    const template = files(data);
    expect(await seedFromTemplate(join(root, 'new'), cache)).toBe(true);
    mkdirSync(join(root, 'empty'));
    expect(await seedFromTemplate(join(root, 'empty'), cache)).toBe(true);
    expect(files(join(root, 'new'))).toEqual(template);
    expect(files(join(root, 'empty'))).toEqual(template);
    expect(readdirSync(root).sort()).toEqual(['cache', 'empty', 'new']);
    expect(readdirSync(cache)).toEqual([TEMPLATE]); // used as it was: not made again
    expect(files(data)).toEqual(template);
  });

  it('a copy that fails leaves no half folder, beside dataDir or in its place', async () => {
    const root = newRoot();
    const { cache, data } = await readyCache(root);
    // Not in the manifest (the template stays intact), and a FIFO is something cpSync refuses to copy.
    execFileSync('mkfifo', [join(data, 'zz-fifo')]);
    await expect(seedFromTemplate(join(root, 'db'), cache)).rejects.toMatchObject({ code: 'ERR_FS_CP_FIFO_PIPE' });
    expect(readdirSync(root)).toEqual(['cache']);
  });

  it.skipIf(process.platform === 'win32')('a cache others may write, or that another user owns, is refused: nothing seeded', async () => {
    const root = newRoot();
    const { cache } = await readyCache(root);
    const refusal = `pgliteStore: the template cache ${cache} is not private to this user; not using it`;
    for (const mode of [0o720, 0o702, 0o777]) {
      chmodSync(cache, mode);
      await expect(seedFromTemplate(join(root, 'db'), cache), mode.toString(8)).rejects.toThrow(refusal);
    }
    chmodSync(cache, 0o755); // others may read it: fine
    expect(await seedFromTemplate(join(root, 'db'), cache)).toBe(true);
    if (process.getuid?.() === 0) {
      chownSync(cache, 4242, 4242);
      await expect(seedFromTemplate(join(root, 'other'), cache)).rejects.toThrow(refusal);
    }
    expect(readdirSync(root).sort()).toEqual(['cache', 'db']);
  });

  it('Windows has no such modes: its cache is used as it is', async () => {
    const root = newRoot();
    const { cache } = await readyCache(root);
    chmodSync(cache, 0o777);
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
    try {
      expect(await seedFromTemplate(join(root, 'db'), cache)).toBe(true);
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
    expect(existsSync(join(root, 'db', 'PG_VERSION'))).toBe(true);
  });

  it('pgliteStore seeds a folder whose path holds "://" past its start: only a leading scheme makes a URL', async () => {
    const root = newRoot();
    const { cache } = await readyCache(root);
    const dataDir = `${root}/odd://db`; // a folder "odd:" holding "db" (join() would fold the slashes)
    const store = pgliteStore({ dataDir, templateCache: cache });
    await store.acquire();
    await store.release();
    // A copy of the tests' template, whose postgresql.conf ends with their settings (initdb writes none).
    expect(readFileSync(join(root, 'odd:', 'db', 'postgresql.conf'), 'utf8')).toContain("# The tests' settings");
  });

  it(
    'a template that lost a file while this process uses it is moved aside and made again by a child: a full copy, its manifest true, 32MB of shared_buffers',
    { timeout: 300_000 },
    async () => {
      const root = newRoot();
      const { cache, data } = await readyCache(root);
      await standInMaker(root);
      expect(await seedFromTemplate(join(root, 'a'), cache)).toBe(true);
      rmSync(join(data, 'PG_VERSION')); // as a temp cleaner would: the one change, so that a missing file alone decides
      expect(await seedFromTemplate(join(root, 'b'), cache)).toBe(true);
      expect(readdirSync(cache)).toEqual([TEMPLATE]); // no damaged copy or work folder left
      const made = files(data);
      expect(JSON.parse(readFileSync(join(cache, TEMPLATE, 'manifest.json'), 'utf8'))).toEqual(made);
      expect(made['PG_VERSION']).toBeGreaterThan(0);
      expect(readFileSync(join(data, 'postgresql.auto.conf'), 'utf8')).toMatch(/^shared_buffers = '32MB'$/m);
      expect(files(join(root, 'b'))).toEqual(made);
      // Made in a private work folder, renamed into place: private too.
      expect((statSync(join(cache, TEMPLATE)).mode & 0o777).toString(8)).toBe('700');

      // A template without its manifest (a maker that died before writing it) is made again too,
      // by a child that does not inherit this process's NODE_OPTIONS (here one no child could start with).
      rmSync(join(cache, TEMPLATE, 'manifest.json'));
      const options = process.env['NODE_OPTIONS'];
      process.env['NODE_OPTIONS'] = '--require=/nonexistent/xstate-expire-preload.cjs';
      try {
        expect(await seedFromTemplate(join(root, 'c'), cache)).toBe(true);
      } finally {
        if (options === undefined) delete process.env['NODE_OPTIONS'];
        else process.env['NODE_OPTIONS'] = options;
      }
      expect(JSON.parse(readFileSync(join(cache, TEMPLATE, 'manifest.json'), 'utf8'))).toEqual(files(data));
      expect(readdirSync(cache)).toEqual([TEMPLATE]);
    },
  );
});

describe('templateTar: the template for a database in memory', () => {
  it('is a tar of the template’s data folder that tar(1) reads: every folder and file, named from its root, with its size and mode', async () => {
    const { cache, data } = await readyCache(newRoot());
    const tar = Buffer.from(await (await templateTar(cache)).arrayBuffer());
    expect(tar.length % 512).toBe(0);
    // tar -tv: "-rw-r--r-- 0/0   8192 1970-01-01 00:00 base/1/112" (GNU tar drops the leading slash, and says so).
    const listing = execFileSync('tar', ['-tvf', '-'], { input: tar, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] })
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/));
    const listed = Object.fromEntries(listing.filter(([mode]) => mode!.startsWith('-')).map((f) => [f[5]!.replace(/^\//, ''), Number(f[2])]));
    expect(listed).toEqual(files(data));
    expect(listing.every(([mode, owner]) => ['-rw-r--r--', 'drwxr-xr-x'].includes(mode!) && owner === '0/0')).toBe(true);
    const folders = listing.filter(([mode]) => mode!.startsWith('d')).map((f) => f[5]!.replace(/^\/|\/$/g, ''));
    expect(folders).toContain('base');
    expect(folders.length).toBeGreaterThan(10);
    // The first member's header, as POSIX spells it: numbers in zero-padded octal ending in NUL.
    const field = (at: number, length: number) => tar.subarray(at, at + length).toString('latin1');
    expect(field(0, 12)).toBe('/PG_VERSION\0');
    expect([field(100, 8), field(108, 8), field(116, 8), field(124, 12), field(136, 12)]).toEqual(
      ['0000644\0', '0000000\0', '0000000\0', `${statSync(join(data, 'PG_VERSION')).size.toString(8).padStart(11, '0')}\0`, '00000000000\0'],
    );
    expect([field(156, 1), field(257, 8)]).toEqual(['0', 'ustar\u000000']);
    expect(field(148, 8)).toMatch(/^[0-7]{6}\0 $/);
  });

  it.skipIf(process.platform === 'win32')('leaves out what is neither a folder nor a file (a FIFO would block its read), and refuses a path too long for a header', async () => {
    const { cache, data } = await readyCache(newRoot());
    execFileSync('mkfifo', [join(data, 'pipe')]);
    // 100 bytes with its leading slash: the most a header's name holds.
    writeFileSync(join(data, 'x'.repeat(99)), 'fits');
    const listed = execFileSync('tar', ['-tf', '-'], { input: Buffer.from(await (await templateTar(cache)).arrayBuffer()), encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
    expect(listed).toContain(`${'x'.repeat(99)}\n`);
    expect(listed).not.toMatch(/pipe/);
    writeFileSync(join(data, 'y'.repeat(100)), 'too long');
    await expect(templateTar(cache)).rejects.toThrow(`pgliteStore: the template's path /${'y'.repeat(100)} is too long for a tar header`);
  });

  it('pgliteStore() in memory opens it: the template’s own database (initdb would have made template0 and template1), and nothing written to the cache', async () => {
    const { cache } = await readyCache(newRoot());
    const before = files(cache);
    const warn = vi.spyOn(process, 'emitWarning');
    onTestFinished(() => warn.mockRestore());
    const store = pgliteStore({ templateCache: cache });
    await store.acquire();
    try {
      expect(await store.query(`SELECT count(*)::int AS n FROM ${store.schema}.entities`)).toEqual([{ n: 0 }]);
      expect(await store.query("SELECT datname FROM pg_database WHERE datname LIKE 'template%'")).toEqual([]);
    } finally {
      await store.release();
    }
    expect(files(cache)).toEqual(before);
    expect(warn).not.toHaveBeenCalled();
  });
});
