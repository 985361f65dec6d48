import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { resolve } from 'node:path';

/** The folders this process holds: a second store on one folder is refused too. */
const heldHere = new Set<string>();

/**
 * Takes the lock of a PGlite data folder for this process, or throws while
 * another process (or another store of this one) holds it. Resolves with the
 * function that releases it.
 *
 * On Linux the lock is a socket in the abstract namespace, and on Windows a
 * named pipe, named after the folder: the kernel lets one process bind it and
 * frees it when that process ends, however it ends. No file is left behind to
 * go stale, so neither PID reuse (PID 1 in a restarted container) nor two
 * processes starting together can fool it. Elsewhere it falls back to a lock
 * file `<dataDir>.lock` holding the PID, taken over when that PID is gone.
 */
export async function lockFolder(dataDir: string): Promise<() => void> {
  const key = canonical(dataDir);
  if (heldHere.has(key)) {
    throw new Error(`pgliteStore: ${dataDir} is already open in this process; share one store between managers`);
  }
  heldHere.add(key);
  try {
    const release = process.platform === 'linux' || process.platform === 'win32' ? await bindName(dataDir, key) : lockFile(dataDir);
    return () => {
      heldHere.delete(key);
      release();
    };
  } catch (error) {
    heldHere.delete(key);
    throw error;
  }
}

/** The folder's absolute path, links resolved where it exists: one folder, one lock. */
function canonical(dataDir: string): string {
  try {
    return realpathSync(dataDir);
  } catch {
    return resolve(dataDir);
  }
}

/** Binds the folder's socket name (abstract on Linux, a named pipe on Windows). */
async function bindName(dataDir: string, key: string): Promise<() => void> {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 40);
  const path = process.platform === 'win32' ? `\\\\.\\pipe\\xstate-expire-pglite-${hash}` : `\0xstate-expire-pglite-${hash}`;
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolveBind, rejectBind) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      rejectBind(
        error.code === 'EADDRINUSE'
          ? new Error(`pgliteStore: ${dataDir} is open in another process; PGlite allows one process per dataDir`)
          : error,
      );
    });
    // Stryker disable next-line BooleanLiteral: exclusive matters only in a cluster worker, whose handles the primary would share
    server.listen({ path, exclusive: true }, () => resolveBind());
  });
  // The lock must not keep the process alive.
  server.unref();
  return () => void server.close();
}

/** The portable fallback: `<dataDir>.lock` with this process's PID, taken over from a dead process. */
function lockFile(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      // Stryker disable next-line ConditionalExpression: forced false, any other error of openSync comes again from readFileSync of the same path
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Stryker disable next-line StringLiteral: Number() of a Buffer reads its text as UTF-8 too
      const holder = Number(readFileSync(path, 'utf8'));
      if (holder && holder !== process.pid && alive(holder)) {
        throw new Error(`pgliteStore: ${dataDir} is open in process ${holder}; PGlite allows one process per dataDir`);
      }
      rmSync(path, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
