/**
 * `npm run inspect`: a demo workload in the Stately inspector. Leases register,
 * refresh, fail to refresh, get force-expired and expire, while every actor —
 * the manager and each lease under its id — streams to the inspector.
 *
 * Open the printed URL in a browser. It stops after INSPECT_SECONDS (default 60)
 * or on Ctrl-C. INSPECT_PORT changes the port (default 8080).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { createExpireManager, createExpireProtocol, inspectSanitizers } from '../src/index.js';

const port = Number(process.env.INSPECT_PORT ?? 8080);
const seconds = Number(process.env.INSPECT_SECONDS ?? 60);

const server = createInspectorServer({ port, autoOpen: false });
const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}`, ...inspectSanitizers });
const stopping = new AbortController();
const manager = createExpireManager({ inspect: inspector.inspect, signal: stopping.signal });
const protocol = createExpireProtocol(manager);

console.log(`xstate-expire inspector: open http://localhost:${port} in a browser.`);
console.log(`Streaming a lease workload for ${seconds} s; Ctrl-C stops it.`);

let round = 0;
const register = (id: string, ttlMs: number, fail = false) =>
  protocol
    .update(id, async () => {
      await sleep(150, undefined, { ref: false }); // the backend call
      if (fail) throw new Error(`register ${id} failed`);
      return { value: undefined, expiresAt: Date.now() + ttlMs, close: async () => sleep(100) };
    })
    .catch((error: Error) => console.log(`  ${error.message}: expiration resumed with its deadline`));

async function workload(): Promise<void> {
  while (!stopping.signal.aborted) {
    round++;
    const id = `lease-${round}`;
    await register(id, 2_000); // registers, then expires in 2 s unless refreshed
    await register(`${id}`, 2_000); // a refresh
    void register(id, 2_000, round % 3 === 0); // every third refresh fails
    if (round % 4 === 0) await protocol.fail(id); // an error after an update: force-expire
    await sleep(700, undefined, { signal: stopping.signal }).catch(() => {});
  }
}

async function shutdown(reason: string): Promise<void> {
  if (stopping.signal.aborted) return;
  console.log(`\nstopping (${reason})`);
  stopping.abort(); // disposes the manager: every timer and actor stops
  await manager.dispose();
  inspector.stop(); // closes the WebSocket: no reconnect timer is left behind
  server.stop();
  // A browser still connected keeps the bridge's socket open; do not wait for it.
  setTimeout(() => process.exit(0), 1_000).unref();
}

process.once('SIGINT', () => void shutdown('Ctrl-C'));
setTimeout(() => void shutdown(`${seconds} s elapsed`), seconds * 1000).unref();
await workload();
console.log(`done after ${round} rounds`);
