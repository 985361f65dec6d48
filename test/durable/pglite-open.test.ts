/**
 * A new PGlite data folder is a copy of a cached template: it opens and works
 * like one PGlite initialised itself, keeps what is written, and processes
 * making the template together never see half of one.
 *
 * One test makes a template as a user's first store does (`initdb` in a child:
 * seconds of WebAssembly); the cache's races and repairs are the store's file
 * work around that child, so there a stand-in maker copies the run's test
 * template instead (see templateMakerStandIn), and the stores still open the
 * copies with PGlite. A cache others may write, and a `memory://` dataDir,
 * where PGlite runs `initdb` in this process, are mutants-pglite.test.ts's
 * (the same cases, with the warning's full text).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pgliteStore } from '../../src/durable/index.js';
import { bundled } from '../support/bundle.js';
import { templateMakerStandIn } from '../support/pglite-template.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const folders: string[] = [];

/** A new temp folder, removed after the test. */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-open-'));
  folders.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

/** The templates in `cache`, and whatever else is left there (work folders of a maker). */
const cacheEntries = (cache: string) => readdirSync(cache).sort();

/** Opens a store on `dataDir` in a process of its own (making templates with `maker`): resolves with what it printed. */
function openInChild(dataDir: string, cache: string, maker: string): Promise<string> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--liftoff-only', bundled('pglite-opener'), dataDir, cache, maker],
      { cwd: ROOT, env, timeout: 280_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim())),
    );
  });
}

describe('pgliteStore: a new data folder from the template', () => {
  it('a fresh folder opens, takes the schema and rows, and keeps them on reopen; the template is made once', async () => {
    const root = folder();
    const cache = join(root, 'cache');
    const first = join(root, 'first');
    const store = pgliteStore({ dataDir: first, templateCache: cache });
    await store.acquire();
    const { schema } = store;
    await store.query(
      `INSERT INTO ${schema}.entities (namespace, id, generation, state, live, deadline, closer) VALUES ('n', 'a', 1, 'active', true, 0, 'c')`,
    );
    // The template's own setting, not initdb's 128MB.
    expect((await store.query('SHOW shared_buffers'))[0]?.shared_buffers).toBe('32MB');
    await store.release();
    expect(existsSync(join(first, 'PG_VERSION'))).toBe(true);
    const [template] = cacheEntries(cache);
    expect(cacheEntries(cache)).toEqual([expect.stringMatching(/^pglite-[\d.]+-v\d+$/)]);

    const again = pgliteStore({ dataDir: first, templateCache: cache });
    await again.acquire();
    expect(await again.query(`SELECT id FROM ${schema}.entities`)).toEqual([{ id: 'a' }]);
    await again.release();

    // A second new folder: a copy of the same template, empty of the first one's rows.
    const second = join(root, 'second');
    const other = pgliteStore({ dataDir: second, templateCache: cache });
    await other.acquire();
    expect(await other.query(`SELECT id FROM ${schema}.entities`)).toEqual([]);
    await other.release();
    expect(cacheEntries(cache)).toEqual([template]);
    expect(readdirSync(root).sort()).toEqual(['cache', 'first', 'second']); // no half-seeded folder left beside
  });

  // The stand-in maker is an executable script (a shebang line): not on Windows.
  it.skipIf(process.platform === 'win32')(
    'two processes opening new folders on an empty cache together, both making the template at once: both open, one template is left, no work folder',
    async () => {
      const root = folder();
      const cache = join(root, 'cache');
      const maker = await templateMakerStandIn(root, { together: 2 });
      const said = await Promise.all([openInChild(join(root, 'a'), cache, maker.path), openInChild(join(root, 'b'), cache, maker.path)]);
      expect(said).toEqual(['opened 1', 'opened 1']);
      // Each process made one; the second rename lost, and that process took the first one's.
      expect(maker.runs()).toBe(2);
      expect(cacheEntries(cache)).toEqual([expect.stringMatching(/^pglite-[\d.]+-v\d+$/)]);
    },
  );

  it.skipIf(process.platform === 'win32')('a template that lost a file is made again, and the new folder opens', async () => {
    const root = folder();
    const cache = join(root, 'cache');
    const maker = await templateMakerStandIn(root);
    expect(await openInChild(join(root, 'a'), cache, maker.path)).toBe('opened 1');
    expect(maker.runs()).toBe(1);
    const [template] = cacheEntries(cache);
    rmSync(join(cache, template!, 'data', 'PG_VERSION')); // as a temp cleaner would
    expect(await openInChild(join(root, 'b'), cache, maker.path)).toBe('opened 1');
    expect(maker.runs()).toBe(2);
    expect(existsSync(join(cache, template!, 'data', 'PG_VERSION'))).toBe(true);
    expect(cacheEntries(cache)).toEqual([template]);
  });

  it('a bad templateCache is a TypeError', () => {
    for (const bad of ['', 5, true, null]) {
      expect(() => pgliteStore({ templateCache: bad as never }), String(bad)).toThrow(TypeError);
    }
  });
});
