/**
 * The TypeScript programs that tests start as processes (workers, examples, the
 * CLI), bundled into one plain JavaScript file each, so that a child runs on
 * `node` alone. Through `--import tsx` every child started tsx's loader thread
 * and its esbuild service and compiled its modules again: about 0.5 s of CPU
 * more per process (0.8 s against 0.3 s to a worker's first message, measured),
 * and the suite starts some thirty. test/global-setup.ts bundles them all once
 * per run (esbuild: a tenth of a second); a program started outside vitest
 * (`npm run chaos`) bundles on first use, and again whenever one of its
 * sources changed since.
 *
 * Only the sources are bundled: packages (xstate, pg, PGlite) stay imports,
 * resolved from node_modules as they are for `tsx`, so the children run the
 * same code. The files go to `node_modules/.cache/xstate-expire-tests`, inside
 * the project, for that resolution.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'node_modules/.cache/xstate-expire-tests');

/** The programs started as processes, by name: their entry files, from the project's root. */
export const PROGRAMS = {
  'durable-worker': 'test/durable/worker.ts',
  'clock-skew': 'test/durable/skew.ts',
  'chaos-worker': 'test/durable/chaos/worker.ts',
  'lock-holder': 'test/durable/lock-holder.ts',
  'pglite-opener': 'test/durable/pglite-opener.ts',
  'registry-example': 'examples/registry/main.ts',
  'inspect-example': 'examples/inspect.ts',
  cli: 'src/cli/main.ts',
  library: 'src/index.ts',
} as const;

/** A program's name in {@link PROGRAMS}. */
export type Program = keyof typeof PROGRAMS;

const built = new Set<Program>();

/** Bundles `program` into its file, written aside and renamed into place (a reader never sees half of one). */
function build(program: Program): void {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${program}.mjs`);
  const making = `${file}.${process.pid}.tmp`;
  const { metafile } = buildSync({
    absWorkingDir: ROOT,
    entryPoints: [PROGRAMS[program]],
    outfile: making,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // Class and function names as in the sources: errors and logs name them.
    keepNames: true,
    logLevel: 'error',
    metafile: true,
  });
  // Its sources, to tell later whether it is still up to date.
  writeFileSync(`${making}.json`, JSON.stringify(Object.keys(metafile!.inputs)));
  renameSync(`${making}.json`, `${file}.json`);
  renameSync(making, file);
  built.add(program);
}

/** Bundles every program afresh: test/global-setup.ts, once per run, before the files start. */
export function bundleAll(): void {
  for (const program of Object.keys(PROGRAMS) as Program[]) build(program);
}

/** Whether the bundle `file` exists and none of its sources changed after it was made. */
function upToDate(file: string): boolean {
  try {
    const made = statSync(file).mtimeMs;
    const sources = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as string[];
    return sources.every((source) => statSync(join(ROOT, source)).mtimeMs <= made);
  } catch {
    return false;
  }
}

/**
 * The bundled file of `program`, to run with `node`: the one this run's global
 * setup made, or made now when it is missing or older than its sources
 * (outside vitest, or after an edit while vitest watches).
 */
export function bundled(program: Program): string {
  const file = join(OUT, `${program}.mjs`);
  if (!built.has(program) && !upToDate(file)) build(program);
  return file;
}
