import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * How long making a template may take before its process is killed: `initdb`
 * in WebAssembly takes seconds, many times that on a loaded machine.
 */
const MAKE_TIMEOUT_MS = 300_000;

/** Bumped when the layout of a cached template changes: an old one is then never read. */
const LAYOUT = 1;

/**
 * The template's `shared_buffers` (in `postgresql.auto.conf`: `ALTER SYSTEM`
 * changes it). initdb's 128MB is memory PGlite touches at every open, for a
 * database one process uses: 32MB takes about 120 MB off the RSS.
 */
const SHARED_BUFFERS = '32MB';

/** The manifest of a template: every file under `data/` and its size, checked before each copy. */
type Manifest = Record<string, number>;

/**
 * The default cache of templates: per user, never a shared temp folder (a
 * template planted there by another user would seed our databases).
 */
export function defaultTemplateCache(): string {
  const base =
    process.platform === 'win32'
      ? (process.env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'))
      : (process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'));
  return join(base, 'xstate-expire');
}

/** The installed PGlite: its ESM entry (for the child that makes a template) and version (a template never outlives an upgrade). */
function installedPglite(): { entry: string; version: string } {
  const cjs = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const dist = dirname(cjs);
  const { version } = JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string };
  return { entry: pathToFileURL(join(dist, 'index.js')).href, version };
}

/** Templates being made by this process, by folder: stores opening together wait for one child. */
const making = new Map<string, Promise<string>>();

/**
 * Makes `dataDir` a copy of a cached, freshly `initdb`'d PGlite data folder, so
 * that PGlite opens it without running `initdb` (seconds of WebAssembly, and a
 * second PostgreSQL instance in memory). Does nothing when `dataDir` already
 * holds files. The template is made once per user and PGlite version, by a
 * child process (this process never holds `initdb`'s memory), in a folder of
 * its own renamed into place: processes racing to make it never see half of
 * one. A template that lost files (a temp cleaner) is made again.
 *
 * @returns true when `dataDir` was seeded; false when it already held files.
 * @throws when the cache folder cannot be used or the template cannot be made.
 */
export async function seedFromTemplate(dataDir: string, cacheDir: string): Promise<boolean> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return false;
  const template = await templateIn(cacheDir);
  // Copied beside it, then renamed: an interrupted copy never leaves a half database in dataDir.
  const seeding = `${dataDir}.seeding-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    cpSync(join(template, 'data'), seeding, { recursive: true });
    // Stryker disable next-line ConditionalExpression: on POSIX rename() replaces an empty folder; Windows needs it gone
    if (existsSync(dataDir)) rmdirSync(dataDir); // empty, checked above; we hold its lock
    renameSync(seeding, dataDir);
  } finally {
    rmSync(seeding, { recursive: true, force: true });
  }
  return true;
}

/**
 * The template's data folder as a tar archive, for an in-memory PGlite
 * (`loadDataDir`), which then starts without `initdb` as a copied folder does.
 * Made from the cached template (made first if missing) each time: about
 * 40 MB, read in tens of milliseconds, and not kept by this process after.
 *
 * @throws when the cache folder cannot be used or the template cannot be made.
 */
export async function templateTar(cacheDir: string): Promise<Blob> {
  const data = join(await templateIn(cacheDir), 'data');
  const blocks: Uint8Array[] = [];
  // A folder comes before what it holds: readdir lists a level before the levels below it.
  for (const path of readdirSync(data, { recursive: true }) as string[]) {
    const full = join(data, path);
    const stat = statSync(full);
    // PGlite's own dumps name every member from the data folder's root: /PG_VERSION, /base/1/112.
    // Stryker disable next-line StringLiteral: POSIX paths hold no backslash; the replace is for Windows' separators
    const name = `/${path.replaceAll('\\', '/')}`;
    if (stat.isDirectory()) blocks.push(tarHeader(name, 0, '5', 0o755));
    else if (stat.isFile()) {
      const content = readFileSync(full);
      // Stryker disable next-line StringLiteral: a NUL type is a regular file too (tar before POSIX)
      blocks.push(tarHeader(name, content.length, '0', 0o644), content, new Uint8Array((512 - (content.length % 512)) % 512));
    }
  }
  // Two empty blocks end an archive.
  blocks.push(new Uint8Array(1024));
  return new Blob(blocks);
}

/** A POSIX ustar header block: the data folder's paths fit its 100-byte name field. */
function tarHeader(name: string, size: number, type: '0' | '5', mode: number): Uint8Array {
  if (Buffer.byteLength(name) > 100) throw new Error(`pgliteStore: the template's path ${name} is too long for a tar header`);
  const header = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number): void => void header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at);
  header.write(name, 0);
  octal(mode, 100, 8);
  octal(0, 108, 8); // uid
  octal(0, 116, 8); // gid
  octal(size, 124, 12);
  octal(0, 136, 12); // mtime
  header.write(type, 156);
  header.write('ustar\u000000', 257);
  // The checksum is the sum of the header's bytes, its own field counted as spaces.
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** The template folder in `cacheDir` for the installed PGlite: `data/` and `manifest.json`, made if missing or damaged. */
function templateIn(cacheDir: string): Promise<string> {
  const { entry, version } = installedPglite();
  const template = join(cacheDir, `pglite-${version}-v${LAYOUT}`);
  const pending = making.get(template);
  // Stryker disable next-line ConditionalExpression: a second maker's rename fails on the first's intact template, which it uses (a cost)
  if (pending) return pending;
  const made = (async () => {
    ownedCache(cacheDir);
    if (intact(template)) return template;
    // Stryker disable next-line ConditionalExpression: renaming a missing template throws, and the catch below ignores that
    if (existsSync(template)) {
      // Damaged: moved aside first, so that a racing process never copies it half removed.
      const trash = `${template}.damaged-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        renameSync(template, trash);
      } catch {
        // Another process moved it first.
      }
      rmSync(trash, { recursive: true, force: true });
    }
    const work = join(cacheDir, `making-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      mkdirSync(work, { mode: 0o700 });
      await initdbInChild(entry, join(work, 'data'));
      writeFileSync(join(work, 'manifest.json'), JSON.stringify(manifestOf(join(work, 'data'))));
      try {
        renameSync(work, template);
      } catch (error) {
        // Another process renamed its own first: use that one.
        if (!intact(template)) throw error;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return template;
  })().finally(() => making.delete(template));
  making.set(template, made);
  return made;
}

/** Creates `cacheDir` (private to this user) or checks that this user owns it and no one else may write it. */
function ownedCache(cacheDir: string): void {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  const { uid, mode } = statSync(cacheDir);
  // Stryker disable next-line OptionalChaining: getuid exists on every POSIX platform, the only ones that reach this line
  if (uid !== process.getuid?.() || (mode & 0o022) !== 0) {
    throw new Error(`pgliteStore: the template cache ${cacheDir} is not private to this user; not using it`);
  }
}

/** Whether `template` holds every file of its manifest, at its size. */
function intact(template: string): boolean {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(join(template, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return false;
  }
  const data = join(template, 'data');
  return Object.entries(manifest).every(([path, size]) => {
    try {
      return statSync(join(data, path)).size === size;
    } catch {
      return false;
    }
  });
}

/** Every file under `root` with its size, by path relative to `root`. */
function manifestOf(root: string): Manifest {
  const manifest: Manifest = {};
  for (const path of readdirSync(root, { recursive: true }) as string[]) {
    const stat = statSync(join(root, path));
    // Stryker disable next-line StringLiteral: POSIX paths hold no backslash; the replace is for Windows' separators
    if (stat.isFile()) manifest[relative(root, join(root, path)).replaceAll('\\', '/')] = stat.size;
  }
  return manifest;
}

/**
 * Opens PGlite once on `dataDir` in a child process, which runs `initdb`, and
 * sets its `shared_buffers`.
 * `--liftoff-only`: V8 would otherwise recompile PGlite's WebAssembly in the
 * background for a process that uses it once.
 */
function initdbInChild(entry: string, dataDir: string): Promise<void> {
  const script = `
    const pglite = await import(process.argv[1]);
    const db = await (pglite.PGlite ?? pglite.default.PGlite).create(process.argv[2]);
    await db.query("ALTER SYSTEM SET shared_buffers = '${SHARED_BUFFERS}'");
    await db.close();`;
  // Stryker disable next-line ObjectLiteral: the child reads no variable of the environment (NODE_OPTIONS is tested)
  const env = { ...process.env };
  delete env['NODE_OPTIONS']; // a loader or a heap limit meant for this process
  // Stryker disable next-line StringLiteral: no effect outside Electron
  env['ELECTRON_RUN_AS_NODE'] = '1'; // under Electron, execPath is the app: run it as Node
  return new Promise((resolve, reject) => {
    // execFile kills the child (by its PID) when the timeout passes.
    execFile(
      process.execPath,
      ['--liftoff-only', '--input-type=module', '-e', script, entry, dataDir],
      { env, timeout: MAKE_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, _stdout, stderr) =>
        error ? reject(new Error(`pgliteStore: making the data folder template failed: ${error.message}\n${stderr}`)) : resolve(),
    );
  });
}
