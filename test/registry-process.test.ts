/**
 * The lease registry example as a process (`examples/registry/main.ts`), on a
 * free port of 127.0.0.1: its SIGTERM shutdown, and its durable leases
 * (`STORE=pglite:<dir>` and `STORE=postgres://…`) across a SIGKILL and a restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bundled } from './support/bundle.js';
import { pgliteDataDir } from './support/pglite-template.js';
import { findPostgresBin, freePort, startPostgres } from './support/postgres.js';

/** A registry process on `port`, its stdout and stderr collected. */
interface Registry {
  child: ChildProcess;
  output: { text: string };
  exited: Promise<number | null>;
  /** Resolves once it listens; rejects, with its output, if it exits first. */
  ready(): Promise<void>;
}

/**
 * How long a registry may take to start listening: it is ready as soon as it
 * prints its banner (a second or two idle); a loaded machine takes many times
 * that. Only a hang reaches this.
 */
const READY_CEILING_MS = 120_000;

/** Every registry started, stopped by its PID after each test whatever happened in it. */
const started: Registry[] = [];

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

afterEach(async () => {
  for (const registry of started.splice(0)) {
    if (running(registry.child)) {
      process.kill(registry.child.pid!, 'SIGKILL');
      await registry.exited;
    }
  }
});
// And if this test process ends first (a hang killed from outside): no registry outlives it.
process.once('exit', () => {
  for (const { child } of started) if (running(child)) process.kill(child.pid!, 'SIGKILL');
});

function startRegistry(port: number, env: Record<string, string> = {}): Registry {
  // --liftoff-only: V8's optimizing tier would recompile PGlite's WebAssembly in the
  // background, CPU that a process living seconds never earns back.
  // The example bundled (see test/support/bundle.ts): it starts on plain `node`, without tsx.
  const child = spawn(process.execPath, ['--liftoff-only', bundled('registry-example')], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, PORT: String(port), ...env },
  });
  const output = { text: '' };
  child.stdout.on('data', (chunk) => (output.text += chunk));
  child.stderr.on('data', (chunk) => (output.text += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = async () => {
    const until = Date.now() + READY_CEILING_MS;
    while (!output.text.includes('lease registry on')) {
      if (!running(child)) {
        throw new Error(`the registry exited (${child.exitCode ?? child.signalCode}) before listening:\n${output.text}`);
      }
      if (Date.now() > until) throw new Error(`the registry did not listen within ${READY_CEILING_MS} ms:\n${output.text}`);
      await sleep(50);
    }
  };
  const registry = { child, output, exited, ready };
  started.push(registry);
  return registry;
}

describe('the registry example process', () => {
  it('on SIGTERM unregisters every live lease once, then exits', async () => {
    const port = await freePort();
    const registry = startRegistry(port);
    await registry.ready();
    const base = `http://127.0.0.1:${port}`;
    for (const id of ['a', 'b', 'c']) {
      const res = await fetch(`${base}/leases/${id}`, { method: 'PUT', body: JSON.stringify({ ttlMs: 60_000 }) });
      expect(res.status).toBe(201);
    }
    registry.child.kill('SIGTERM');
    expect(await registry.exited).toBe(0);
    expect(registry.output.text).toContain('SIGTERM: unregistering 3 leases');
    expect(registry.output.text).toContain('stopped; 0 leases left in the store');
  });
});

describe('the registry example with durable leases (STORE)', () => {
  const stores = {
    pglite: async () => {
      // A copy of the template data folder: the registry opens it without running initdb.
      const { dataDir, remove } = await pgliteDataDir();
      return { store: `pglite:${dataDir}`, stop: async () => remove() };
    },
    postgres: async () => {
      // The registry is SIGKILLed, not the server: fsync off loses nothing here.
      const server = await startPostgres({ fsync: false });
      return { store: server.connectionString, stop: () => server.stop() };
    },
  };
  const hasPostgres = !!process.env.CI || findPostgresBin() !== undefined;

  for (const [kind, open] of Object.entries(stores)) {
    if (kind === 'postgres' && !hasPostgres) continue;
    it(`a lease survives a SIGKILL and a restart with the same expiresAt, then expires on time (${kind})`, async () => {
      const { store, stop } = await open();
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const register = async (id: string, ttlMs: number) => {
        const put = await fetch(`${base}/leases/${id}`, { method: 'PUT', body: JSON.stringify({ ttlMs, data: { room: '4.12' } }) });
        expect(put.status).toBe(201);
        return ((await put.json()) as { expiresAt: number }).expiresAt;
      };
      try {
        const first = startRegistry(port, { STORE: store });
        await first.ready();
        // One lease outlives the restart, to be read back; the other falls due during or after it.
        const kept = await register('kept', 600_000);
        const due = await register('printer-1', 3_000);
        first.child.kill('SIGKILL');
        await first.exited;

        const second = startRegistry(port, { STORE: store });
        try {
          await second.ready();
          const up = Date.now();
          const got = await fetch(`${base}/leases/kept`);
          expect(got.status).toBe(200);
          expect(await got.json()).toMatchObject({ id: 'kept', data: { room: '4.12' }, expiresAt: kept, state: 'active' });
          const closed = /unregistered printer-1 .*closed at (\d+)/;
          await vi.waitFor(() => expect(second.output.text).toMatch(closed), { timeout: READY_CEILING_MS, interval: 50 });
          // Not before its deadline; at it, or at once if the restart took longer than the lease.
          const closedAt = Number(closed.exec(second.output.text)![1]);
          expect(closedAt).toBeGreaterThanOrEqual(due);
          expect(closedAt, second.output.text).toBeLessThan(Math.max(due, up) + 1_000);
          expect((await fetch(`${base}/leases/printer-1`)).status).toBe(404);
          expect(second.output.text).not.toMatch(/unregistered kept/);
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      } finally {
        await stop();
      }
    }, 2 * READY_CEILING_MS);
  }
});
