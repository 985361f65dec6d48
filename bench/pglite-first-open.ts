/**
 * PGlite's first open of a new folder for bench/durable.ts, measured in a
 * fresh process (bench/pglite-open.ts) that this module starts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** One PGlite first open of a new folder: wall and CPU ms, RSS (bytes) before, right after, and 5 s after. */
export interface FirstOpen {
  ms: number;
  cpuMs: number;
  rssBefore: number;
  rss: number;
  rssLater: number;
}
/** Opens a new folder in a fresh process, with the template cache `cache` (`'none'`: `templateCache: false`). */
export function firstOpen(cache: string): Promise<FirstOpen> {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-bench-open-'));
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return new Promise<FirstOpen>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./pglite-open.ts', import.meta.url)), join(dir, 'db'), cache],
      { cwd: ROOT, env, timeout: 300_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!) as FirstOpen)),
    );
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}
