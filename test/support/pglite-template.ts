/**
 * PGlite data folders for tests, copied from one template. A new PGlite folder
 * (or an in-memory PGlite) runs `initdb` in WebAssembly on its first open:
 * about 4 s of CPU, and much longer on a busy machine. The template is made
 * once per machine and PGlite version (test/global-setup.ts makes it before
 * the test files start); each test then opens a copy of it, which PGlite opens
 * without `initdb`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How long making the template may take before its process is killed: generous, for a loaded machine. */
const MAKE_TIMEOUT_MS = 300_000;

/** The installed PGlite's version: a template never outlives an upgrade. */
function pgliteVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Settings of the test databases, written into the template's postgresql.conf.
 * PostgreSQL zeroes its shared buffers when it starts, and PGlite starts it at
 * every open: 128 MB by default, 40 000 page faults and 0.9 s of CPU per open,
 * against 0.35 s with 16 MB (measured). A test database holds a few hundred rows.
 */
const SETTINGS = { shared_buffers: '16MB' };

/**
 * The databases initdb makes that the template drops: PGlite opens `postgres`,
 * and no test uses these templates of CREATE DATABASE (7 MB each), which every
 * copy of the template would copy again (39 MB a copy; 24 MB without them).
 */
const DROPPED = ['template0', 'template1'];

/** The template's name: PGlite's version, the settings and the databases dropped, so that none outlives a change. */
const templateName = () =>
  `xstate-expire-pglite-template-${pgliteVersion()}-${createHash('sha256').update(JSON.stringify({ ...SETTINGS, DROPPED })).digest('hex').slice(0, 8)}`;

let made: Promise<string> | undefined;

/**
 * The template data folder in `os.tmpdir()`, made if missing: by a child
 * process (`--liftoff-only`: V8 would otherwise recompile PGlite's WebAssembly
 * in the background for a process that uses it once), in a folder of its own
 * renamed into place, so that processes racing to make it never see half of one.
 */
export function pgliteTemplate(): Promise<string> {
  return (made ??= (async () => {
    const template = join(tmpdir(), templateName());
    if (existsSync(join(template, 'PG_VERSION'))) return template;
    const making = mkdtempSync(`${template}.making-`);
    const script = `
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create(process.argv[1]);
      for (const name of ${JSON.stringify(DROPPED)}) {
        await db.query('ALTER DATABASE ' + name + ' IS_TEMPLATE false');
        await db.query('DROP DATABASE ' + name);
      }
      await db.query('CHECKPOINT');
      await db.close();`;
    try {
      await new Promise<void>((resolve, reject) => {
        // execFile kills the child by its PID when the timeout passes.
        execFile(
          process.execPath,
          ['--liftoff-only', '--input-type=module', '-e', script, join(making, 'db')],
          { cwd: ROOT, timeout: MAKE_TIMEOUT_MS, killSignal: 'SIGKILL' },
          (error, _stdout, stderr) => (error ? reject(new Error(`making the PGlite template failed: ${error.message}\n${stderr}`)) : resolve()),
        );
      });
      appendFileSync(
        join(making, 'db', 'postgresql.conf'),
        `\n# The tests' settings (test/support/pglite-template.ts)\n${Object.entries(SETTINGS).map(([name, value]) => `${name} = ${value}\n`).join('')}`,
      );
      try {
        renameSync(join(making, 'db'), template);
      } catch {
        // Another process made it first.
      }
    } finally {
      rmSync(making, { recursive: true, force: true });
    }
    return template;
  })());
}

const fixtures = new Map<string, Promise<string>>();

/**
 * A data folder template holding what `sql` made (run on a copy of the
 * template), kept beside the template, per machine, PGlite version and SQL
 * text: a fixture loaded into PGlite costs a PGlite start (about a second of
 * CPU) once, not at every test that loads it. Copy it; never open it.
 */
export function pgliteFixtureTemplate(sql: string): Promise<string> {
  const key = createHash('sha256').update(sql).digest('hex').slice(0, 16);
  let making = fixtures.get(key);
  if (!making) {
    making = (async () => {
      const fixture = join(tmpdir(), `${templateName().replace('-template-', '-fixture-')}-${key}`);
      if (existsSync(join(fixture, 'PG_VERSION'))) return fixture;
      const parent = mkdtempSync(`${fixture}.making-`);
      try {
        const dataDir = join(parent, 'db');
        cpSync(await pgliteTemplate(), dataDir, { recursive: true });
        const { PGlite } = await import('@electric-sql/pglite');
        const db = await PGlite.create(dataDir);
        try {
          await db.exec(sql);
        } finally {
          await db.close();
        }
        try {
          renameSync(dataDir, fixture);
        } catch {
          // Another process made it first.
        }
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
      return fixture;
    })();
    // A failure is the caller's to report, and the next call tries again.
    making.catch(() => fixtures.delete(key));
    fixtures.set(key, making);
  }
  return making;
}

/** A new PGlite data folder, a copy of the template: `dataDir` to open, `remove()` when done. */
export async function pgliteDataDir(): Promise<{ dataDir: string; remove(): void }> {
  const template = await pgliteTemplate();
  const parent = mkdtempSync(join(tmpdir(), 'xstate-expire-pglite-'));
  const dataDir = join(parent, 'db');
  cpSync(template, dataDir, { recursive: true });
  return { dataDir, remove: () => rmSync(parent, { recursive: true, force: true, maxRetries: 3 }) };
}

/**
 * A stand-in for the `node` that src/durable/pglite-template.ts starts to make
 * a template (`initdb` in WebAssembly: seconds of CPU and a gigabyte of page
 * faults each time): an executable in `dir` the store starts in its place
 * (set `process.execPath` to `path`, in this process or a child), with the
 * same arguments. It fills the data folder it is given (the last argument)
 * with a copy of the run's template, a folder `initdb` made; with `script`,
 * it then runs the store's own script on it with the real `node` (which opens
 * the copy without `initdb` and sets the template's settings). `runs()`
 * counts its runs; a run copies only once `together` runs have started, so
 * that makers racing are in flight at the same time. Being a script run by
 * its shebang line, it starts only where such scripts do: not on Windows.
 */
export async function templateMakerStandIn(
  dir: string,
  { together = 1, script = false }: { together?: number; script?: boolean } = {},
): Promise<{ path: string; runs(): number }> {
  const source = await pgliteTemplate();
  const path = join(dir, 'make-template.mjs');
  const log = join(dir, 'maker.log');
  const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);
  writeFileSync(
    path,
    `#!${process.execPath}
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
const log = ${JSON.stringify(log)};
const runs = () => readFileSync(log, 'utf8').split('\\n').filter(Boolean).length;
appendFileSync(log, 'started\\n');
const until = Date.now() + 120_000;
while (runs() < ${together}) {
  if (Date.now() > until) throw new Error('the other template makers never started');
  await new Promise((resolve) => setTimeout(resolve, 10));
}
cpSync(${JSON.stringify(source)}, process.argv.at(-1), { recursive: true });
if (${script}) execFileSync(${JSON.stringify(process.execPath)}, process.argv.slice(2), { stdio: 'inherit' });
`,
  );
  chmodSync(path, 0o755);
  return { path, runs };
}
