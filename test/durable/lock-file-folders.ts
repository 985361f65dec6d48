/**
 * Folders whose lock takes the portable fallback (a `<dir>.lock` file with the
 * PID), as on a platform without Linux's abstract sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/**
 * A maker of such folders for the tests of the calling `describe`: the platform
 * reads as `darwin` until each test ends; each folder and its lock file are removed after it.
 */
export function lockFileFolders(): () => string {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  const dirs: string[] = [];
  afterEach(() => {
    Object.defineProperty(process, 'platform', platform);
    for (const dir of dirs.splice(0)) {
      rmSync(`${dir}.lock`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-expire-lockfile-'));
    dirs.push(dir);
    Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
    return dir;
  };
}
