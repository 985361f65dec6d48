import { randomUUID } from 'node:crypto';
import { compileMachine } from '../machines/compile.js';
import { expirationMachine } from '../machines/expiration.js';
import { DurableEngine } from './engine.js';
import type { DurableStore } from './store.js';

/**
 * Deletes the live entity `id` of `namespace` without closing it (Go:
 * `Delete`), as a manager's `delete` does: one transaction that runs the
 * statechart's `delete` on its row. It claims and runs no close (an operator's
 * tool is no manager): a close already running is not affected.
 *
 * @returns whether a live entity existed.
 */
export async function deleteStored(store: DurableStore, namespace: string, id: string): Promise<boolean> {
  const engine = new DurableEngine(
    store,
    namespace,
    // Stryker disable next-line StringLiteral: the owner names the leases an engine takes, and a delete takes none
    `admin:${randomUUID()}`,
    compileMachine(expirationMachine),
    30_000,
    30_000,
    // Stryker disable next-line ArrowFunction,StringLiteral: no close runs here, so nothing is reported
    (entity, error) => console.error(`xstate-expire: ${entity}:`, error),
    // Never a close here: queued ones wait for a manager.
    // Stryker disable next-line ObjectLiteral,ArrowFunction,BooleanLiteral: asked only when a close is queued, and a delete queues none
    { canClose: () => false },
  );
  return engine.transaction(async (step) => {
    const live = await engine.live(step, id);
    if (!live) return false;
    await engine.send(step, live, { type: 'delete' });
    await engine.write(step, live);
    // Managers waiting on its deadline find nothing: no need to wake them.
    return true;
  });
}
