import { existsSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useMemoryScratch } from './support/scratch-dir.js';

const TMPFS = 0x01021994;

describe.skipIf(process.platform !== 'linux')('the tests’ scratch folder', () => {
  it('is a private folder in /dev/shm where that is a tmpfs with room; TMPDIR set by you wins', () => {
    const env: NodeJS.ProcessEnv = {};
    const dir = useMemoryScratch(env);
    if (dir === undefined) return void console.log('no tmpfs with 2 GiB free at /dev/shm here: nothing to check');
    expect(env['TMPDIR']).toBe(dir);
    expect(dir.startsWith('/dev/shm/')).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o711);
    const yours = { TMPDIR: '/somewhere/else' };
    expect(useMemoryScratch(yours)).toBeUndefined();
    expect(yours).toEqual({ TMPDIR: '/somewhere/else' });
  });

  it('is left alone where the root is not a tmpfs, or missing', () => {
    const project = fileURLToPath(new URL('..', import.meta.url));
    const env: NodeJS.ProcessEnv = {};
    if (statfsSync(project).type !== TMPFS) {
      expect(useMemoryScratch(env, project)).toBeUndefined();
      expect(existsSync(join(project, `xstate-expire-tests-${process.getuid!()}`))).toBe(false);
    }
    expect(useMemoryScratch(env, join(project, 'no-such-folder'))).toBeUndefined();
    expect(env).toEqual({});
  });
});
