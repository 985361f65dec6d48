/**
 * Where the tests' scratch folders go: every test makes them under `os.tmpdir()`
 * (PGlite data folders copied from a template, PostgreSQL clusters, packages).
 * On Linux, `/tmp` is often a disk, and on this project's CI machine one mounted
 * with `discard`: each file a test removes is trimmed on the spot, and a run spent
 * a third of its CPU copying and unlinking files. A memory file system (`/dev/shm`)
 * does the same work in a fraction of it, so the run uses one when it has room.
 */
import { chmodSync, lstatSync, mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** What a run keeps there at most (templates, a few clusters and data folders at once), with a margin. */
const ROOM = 2 * 1024 ** 3;
/** statfs(2)'s type of a tmpfs. */
const TMPFS = 0x01021994;

/**
 * Sets `TMPDIR` (read by `os.tmpdir()` in the runner, its workers and every process
 * they start) to a folder of this user in `/dev/shm` when that is a tmpfs with
 * {@link ROOM} free and `TMPDIR` is not set already (yours wins). Returns the
 * folder, or undefined where the run keeps `os.tmpdir()`.
 */
export function useMemoryScratch(env: NodeJS.ProcessEnv = process.env, root = '/dev/shm'): string | undefined {
  if (env['TMPDIR'] || process.platform !== 'linux') return undefined;
  try {
    const fs = statfsSync(root);
    if (fs.type !== TMPFS || fs.bavail * fs.bsize < ROOM) return undefined;
    const dir = join(root, `xstate-expire-tests-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true });
    // /dev/shm is shared by every user: a folder of that name someone else made is not ours.
    const made = lstatSync(dir);
    if (!made.isDirectory() || made.uid !== process.getuid?.()) return undefined;
    // Nobody else lists or writes it; others may pass through (as root, the tests run
    // PostgreSQL as the postgres user, in folders of their own made inside it).
    chmodSync(dir, 0o711);
    env['TMPDIR'] = dir;
    return dir;
  } catch {
    return undefined; // no /dev/shm, or not ours to write: the default scratch folder
  }
}
