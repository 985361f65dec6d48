import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { bundled } from './support/bundle.js';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** How long the demo may take to start and to run its 2 s: only a hang reaches it, even on a loaded machine. */
const CEILING_MS = 100_000;

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** The demo processes started, SIGKILLed by their PID after each test whatever happened in it. */
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (!running(child)) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  }
});

describe('npm run inspect', () => {
  it('streams the manager and its leases to a local inspector and exits on its own', async () => {
    const port = await freePort();
    // The example bundled (see test/support/bundle.ts): it starts on plain `node`, without tsx.
    const child = spawn(process.execPath, [bundled('inspect-example')], {
      cwd: root,
      env: { ...process.env, INSPECT_PORT: String(port), INSPECT_SECONDS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    // The bridge listens once the banner is out (the demo's 2 s start then; the bridge
    // replays what it got before a client connects, so connecting late loses nothing).
    const until = Date.now() + CEILING_MS;
    while (!output.includes('open http') && running(child) && Date.now() < until) await sleep(50);
    expect(output).toContain(`open http://localhost:${port}`);

    // Stand in for the browser page: a WebSocket client of the bridge on 127.0.0.1.
    const names = new Set<string>();
    const receiver = new WebSocket(`ws://127.0.0.1:${port}`);
    receiver.on('message', (data) => {
      const event = JSON.parse(String(data)) as { type: string; name?: string };
      if (event.type === '@xstate.actor' && event.name) names.add(event.name);
    });
    let receiverError: Error | undefined;
    receiver.on('error', (error) => (receiverError = error));

    const code = await exited;
    receiver.terminate();
    expect(code, output).toBe(0);
    expect(names.has('expireManager'), `events received: ${[...names].join(', ') || 'none'}; ${receiverError ?? ''}`).toBe(true);
    expect([...names].some((name) => name.startsWith('lease-'))).toBe(true);
  }, CEILING_MS + 20_000);
});
