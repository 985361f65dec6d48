import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundled } from './support/bundle.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Far below the hour-long deadline the script leaves pending, far above the
 * second or two it takes to start and end, even on a loaded machine.
 */
const EXIT_WITHIN_MS = 120_000;

describe('timers and graceful exit', () => {
  it('pending expirations on the default clock do not keep the process alive', async () => {
    // The library's entry bundled (see test/support/bundle.ts): the process runs on plain `node`.
    const script = `
      import { createExpireManager } from ${JSON.stringify(pathToFileURL(bundled('library')).href)};
      const manager = createExpireManager();
      manager.new('long', Date.now() + 3_600_000, () => console.log('closed'));
      console.log('size', manager.size());
    `;
    // Asynchronously, so the test runner stays responsive; execFile SIGKILLs the child
    // by its PID if it outlives the timeout, and the test then fails with that.
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { cwd: root, encoding: 'utf8', timeout: EXIT_WITHIN_MS, killSignal: 'SIGKILL' },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`the process did not exit on its own (${error.message}); stdout: ${stdout} stderr: ${stderr}`))
            : resolve(stdout),
      );
    });
    // It exited on its own, with the hour-long deadline still pending.
    expect(out.trim()).toBe('size 1');
  }, EXIT_WITHIN_MS + 20_000);
});
