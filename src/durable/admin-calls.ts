import { randomUUID } from 'node:crypto';
import { compileMachine } from '../machines/compile.js';
import { expirationMachine } from '../machines/expiration.js';
import { DEFAULT_CLOSE_POLICY } from './closers.js';
import { DurableEngine } from './engine.js';
import type { DurableStore } from './store.js';

/**
 * One statechart event on the live entity `id` of `namespace`, as a manager's
 * call runs it: one transaction on its row. It claims and runs no close (an
 * operator's tool is no manager): a close it queues waits for a manager, which
 * it wakes.
 *
 * @returns whether the statechart of a live entity took it.
 */
async function sendStored(store: DurableStore, namespace: string, id: string, event: string): Promise<boolean> {
  const engine = new DurableEngine(
    store,
    namespace,
    // Stryker disable next-line StringLiteral: the owner names the leases an engine takes, and these calls take none
    `admin:${randomUUID()}`,
    compileMachine(expirationMachine),
    30_000,
    30_000,
    // Stryker disable next-line ArrowFunction,StringLiteral: no close runs here, so nothing is reported
    (entity, error) => console.error(`xstate-expire: ${entity}:`, error),
    // Never a close here: queued ones wait for a manager.
    {
      // Stryker disable next-line ArrowFunction: undefined is as falsy as false to the engine's check
      canClose: () => false,
      policyOf: () => DEFAULT_CLOSE_POLICY,
    },
  );
  return engine.transaction(async (step) => {
    const live = await engine.live(step, id);
    if (!live || !(await engine.send(step, live, { type: event }))) return false;
    await engine.write(step, live);
    await engine.notify(step, Infinity);
    return true;
  });
}

/**
 * Deletes the live entity `id` without closing it (Go: `Delete`), as a
 * manager's `delete` does. A close already running is not affected.
 *
 * @returns whether a live entity existed.
 */
export function deleteStored(store: DurableStore, namespace: string, id: string): Promise<boolean> {
  return sendStored(store, namespace, id, 'delete');
}

/**
 * Sends a `failed` entity back to closing with a fresh round of attempts, as a
 * manager's `retry` does; a manager with its closer runs it.
 *
 * @returns whether `id` was failed.
 */
export function retryStored(store: DurableStore, namespace: string, id: string): Promise<boolean> {
  return sendStored(store, namespace, id, 'retry');
}
