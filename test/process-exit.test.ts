import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('timers and graceful exit', () => {
  it('pending expirations on the default clock do not keep the process alive', () => {
    const script = `
      import { createExpireManager } from './src/index.ts';
      const manager = createExpireManager();
      manager.new('long', Date.now() + 3_600_000, () => console.log('closed'));
      console.log('size', manager.size);
    `;
    const started = Date.now();
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
      timeout: 8_000,
    });
    expect(out.trim()).toBe('size 1');
    // It exits on its own, long before the hour-long deadline (the timeout above would kill it).
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
