import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

describe('npm run inspect', () => {
  it('streams the manager and its leases to a local inspector and exits on its own', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/inspect.ts'], {
      cwd: root,
      env: { ...process.env, INSPECT_PORT: String(port), INSPECT_SECONDS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));

    // Stand in for the browser page: a WebSocket client of the bridge on 127.0.0.1.
    const names = new Set<string>();
    for (let i = 0; i < 50 && !output.includes('open http'); i++) await new Promise((r) => setTimeout(r, 50));
    const receiver = new WebSocket(`ws://127.0.0.1:${port}`);
    receiver.on('message', (data) => {
      const event = JSON.parse(String(data)) as { type: string; name?: string };
      if (event.type === '@xstate.actor' && event.name) names.add(event.name);
    });
    receiver.on('error', () => {});

    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    receiver.terminate();
    expect(output).toContain(`open http://localhost:${port}`);
    expect(code).toBe(0);
    expect(names.has('expireManager')).toBe(true);
    expect([...names].some((name) => name.startsWith('lease-'))).toBe(true);
  }, 15_000);
});
