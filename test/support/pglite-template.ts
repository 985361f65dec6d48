/**
 * PGlite data folders for tests, copied from one template. A new PGlite folder
 * (or an in-memory PGlite) runs `initdb` in WebAssembly on its first open:
 * about 4 s of CPU, and much longer on a busy machine. The template is made
 * once per machine and PGlite version (test/global-setup.ts makes it before
 * the test files start); each test then opens a copy of it, which PGlite opens
 * without `initdb`.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
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

let made: Promise<string> | undefined;

/**
 * The template data folder in `os.tmpdir()`, made if missing: by a child
 * process (`--liftoff-only`: V8 would otherwise recompile PGlite's WebAssembly
 * in the background for a process that uses it once), in a folder of its own
 * renamed into place, so that processes racing to make it never see half of one.
 */
export function pgliteTemplate(): Promise<string> {
  return (made ??= (async () => {
    const template = join(tmpdir(), `xstate-expire-pglite-template-${pgliteVersion()}`);
    if (existsSync(join(template, 'PG_VERSION'))) return template;
    const making = mkdtempSync(`${template}.making-`);
    const script = `
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create(process.argv[1]);
      await db.query('SELECT 1');
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

/** A new PGlite data folder, a copy of the template: `dataDir` to open, `remove()` when done. */
export async function pgliteDataDir(): Promise<{ dataDir: string; remove(): void }> {
  const template = await pgliteTemplate();
  const parent = mkdtempSync(join(tmpdir(), 'xstate-expire-pglite-'));
  const dataDir = join(parent, 'db');
  cpSync(template, dataDir, { recursive: true });
  return { dataDir, remove: () => rmSync(parent, { recursive: true, force: true, maxRetries: 3 }) };
}
