/**
 * PGlite's one-process-per-folder lock, as containers and crashes treat it:
 * two processes starting together never both hold it, a holder killed with
 * SIGKILL leaves nothing that blocks the next one, and a stale lock file
 * naming a live PID (PID reuse, PID 1 after a restart) blocks nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { lockFolder } from '../../src/durable/folder-lock.js';
import { bundled } from '../support/bundle.js';

/** lock-holder.ts, bundled: each holder starts on plain `node` (see test/support/bundle.ts). */
const HOLDER = bundled('lock-holder');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];

/** Starts a lock holder on `dir`; resolves with its first line (`locked` or `refused …`). */
function holder(dir: string): { child: ChildProcess; said: Promise<string> } {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, [HOLDER, dir], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const said = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before saying anything`)));
  });
  return { child, said };
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child);
  }
});

describe.skipIf(process.platform !== 'linux')('the PGlite folder lock (an abstract socket on Linux)', () => {
  it('two processes starting together: exactly one holds it; once the holder is SIGKILLed, the next one takes it', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    try {
      const racers = [holder(dir), holder(dir), holder(dir)];
      const said = await Promise.all(racers.map((r) => r.said));
      expect(said.filter((line) => line === 'locked')).toHaveLength(1);
      expect(said.filter((line) => line.startsWith('refused') && line.includes('another process'))).toHaveLength(2);
      const winner = racers[said.indexOf('locked')]!.child;
      winner.kill('SIGKILL');
      await exited(winner);
      expect(await holder(dir).said).toBe('locked');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a lock file left by an older version, naming a live PID, blocks nothing; a second store in this process is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    try {
      writeFileSync(`${dir}.lock`, '1'); // PID 1 is alive: a container's init after a restart
      const release = await lockFolder(dir);
      await expect(lockFolder(dir)).rejects.toThrow(/already open in this process/);
      release();
      (await lockFolder(dir))();
    } finally {
      rmSync(`${dir}.lock`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
