/**
 * The folder lock's abstract socket (Linux), taken from this process: the
 * name another process would hold is bound here by hand, so that its refusal
 * and the socket's behaviour run where a mutant is active.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockFolder } from '../../src/durable/folder-lock.js';

const socketName = (dir: string) => `\0xstate-expire-pglite-${createHash('sha256').update(dir).digest('hex').slice(0, 40)}`;

describe.skipIf(process.platform !== 'linux')('the folder lock, from this process', () => {
  it('a name bound by another holder: refused as open in another process; free again once that holder lets go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    const other: Server = createServer();
    try {
      await new Promise<void>((resolve) => other.listen({ path: socketName(realpathSync(dir)) }, resolve));
      await expect(lockFolder(dir)).rejects.toThrow(`pgliteStore: ${dir} is open in another process; PGlite allows one process per dataDir`);
      await new Promise((resolve) => other.close(resolve));
      const release = await lockFolder(dir);
      // Whoever connects to the lock's socket is sent away at once.
      const closed = await new Promise<boolean>((resolve) => {
        const socket = connect({ path: socketName(realpathSync(dir)) });
        socket.on('close', () => resolve(true));
        socket.on('error', () => resolve(true));
        setTimeout(() => resolve(false), 5_000).unref();
      });
      expect(closed).toBe(true);
      release();
      (await lockFolder(dir))();
    } finally {
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one folder, one lock: a relative path and a folder not made yet are the same folder as their absolute path', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    const dir = join(parent, 'not-yet');
    try {
      const release = await lockFolder(dir);
      await expect(lockFolder(relative(process.cwd(), dir))).rejects.toThrow(/already open in this process/);
      release();
      (await lockFolder(relative(process.cwd(), dir)))();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('the lock file of the portable fallback: its release does not mind a file someone removed already', async () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lockfile-'));
    Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
    try {
      const release = await lockFolder(dir);
      rmSync(`${dir}.lock`);
      expect(() => release()).not.toThrow();
      (await lockFolder(dir))();
    } finally {
      Object.defineProperty(process, 'platform', platform);
      rmSync(`${dir}.lock`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
