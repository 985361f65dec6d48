/**
 * The folder lock's abstract socket (Linux), taken from this process: the
 * name another process would hold is bound here by hand, so that its refusal
 * and the socket's behaviour run where a mutant is active.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lockFolder } from '../../src/durable/folder-lock.js';
import { lockFileFolders } from './lock-file-folders.js';

const hashOf = (dir: string) => createHash('sha256').update(dir).digest('hex').slice(0, 40);
const socketName = (dir: string) => `\0xstate-expire-pglite-${hashOf(dir)}`;
const listening = (server: Server, path: string) => new Promise<void>((resolve) => server.listen({ path }, resolve));
/** The handles keeping this process alive, of the kind a lock's socket is. */
const pipes = () => process.getActiveResourcesInfo().filter((kind) => kind === 'PipeWrap').length;

describe.skipIf(process.platform !== 'linux')('the folder lock, from this process', () => {
  it('a name bound by another holder: refused as open in another process; free again once that holder lets go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    const other: Server = createServer();
    try {
      await listening(other, socketName(realpathSync(dir)));
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

  it('the lock keeps no process alive: its socket is no handle the event loop waits on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    try {
      const before = pipes();
      const release = await lockFolder(dir);
      expect(pipes()).toBe(before);
      release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a folder reached through a symbolic link is the same folder: one lock', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    try {
      const release = await lockFolder(parent);
      symlinkSync(parent, `${parent}.link`);
      await expect(lockFolder(`${parent}.link`)).rejects.toThrow(`pgliteStore: ${parent}.link is already open in this process`);
      release();
    } finally {
      rmSync(`${parent}.link`, { force: true });
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('on Windows the lock is the named pipe \\\\.\\pipe\\xstate-expire-pglite-<hash of the folder>', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lock-'));
    // Here a pipe's name is a socket file in the working folder: bound by hand, it is the lock another process holds.
    const pipe = `\\\\.\\pipe\\xstate-expire-pglite-${hashOf(realpathSync(dir))}`;
    const other = createServer();
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    try {
      await listening(other, pipe);
      Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
      await expect(lockFolder(dir)).rejects.toThrow(`pgliteStore: ${dir} is open in another process`);
    } finally {
      Object.defineProperty(process, 'platform', platform);
      await new Promise((resolve) => other.close(resolve));
      rmSync(pipe, { force: true });
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

describe('the lock file of the portable fallback, against what crashes and other users leave', () => {
  afterEach(() => void vi.restoreAllMocks());
  const folder = lockFileFolders();

  it('an empty lock file (its holder died before writing its PID) is taken over', async () => {
    const dir = folder();
    writeFileSync(`${dir}.lock`, '');
    (await lockFolder(dir))();
  });

  it('a PID of another user (the kernel answers EPERM) is a live holder: refused', async () => {
    const dir = folder();
    writeFileSync(`${dir}.lock`, '1');
    if (process.getuid?.() === 0) {
      // Root may signal every process: the answer a process of another user gets is given here.
      vi.spyOn(process, 'kill').mockImplementation(() => {
        throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
      });
    }
    await expect(lockFolder(dir)).rejects.toThrow(`pgliteStore: ${dir} is open in process 1; PGlite allows one process per dataDir`);
  });

  it.skipIf(process.platform !== 'linux')('taking and releasing it leaves no file descriptor open', async () => {
    const dir = folder();
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 50; i++) (await lockFolder(dir))();
    expect(open() - before).toBeLessThan(25);
  });
});
