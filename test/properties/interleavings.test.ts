/**
 * Property (b): updates, explicit closes, post-update failures and clock moves
 * race with expiry through the executors, in orders chosen by fast-check's
 * scheduler.
 */
import fc from 'fast-check';
import type { AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createExpireManager, createExpireProtocol } from '../../src/index.js';
import { countingClock, flush } from '../helpers.js';
import { NUM_RUNS, SEED, announce } from './settings.js';

const TTL = 20;

type Op =
  | { kind: 'update'; id: string; ok: boolean }
  | { kind: 'close'; id: string; ok: boolean }
  | { kind: 'fail'; id: string }
  | { kind: 'advance'; ms: number };

const id = fc.constantFrom('a', 'b');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('update' as const), id, ok: fc.boolean() }),
  fc.record({ kind: fc.constant('close' as const), id, ok: fc.boolean() }),
  fc.record({ kind: fc.constant('fail' as const), id }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }),
);

describe.each(['records', 'live actors'] as const)('property: interleavings through the executor (entities as %s)', (engine) => {
  it('never two closes per new, never a close while updating, every close signal aborts, nothing left after dispose', async () => {
    announce('interleavings', SEED, NUM_RUNS);
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(op, { minLength: 1, maxLength: 12 }), async (s, ops) => {
        const { clock, inner, pending } = countingClock();
        const actors: AnyActorRef[] = [];
        const errors: unknown[] = [];
        const manager = createExpireManager({
          clock,
          onCloseError: (_id, error) => errors.push(error),
          // An inspector materializes every entity as a live actor.
            inspect: engine === 'records' ? undefined : (e) => void (e.type === '@xstate.actor' && actors.push(e.actorRef as AnyActorRef)),
        });
        const protocol = createExpireProtocol(manager);

        /** Closes per generation of an id (each successful update is a new generation). */
        const closes = new Map<string, number>();
        const generation = new Map<string, number>();
        const updating = new Set<string>();
        const signals: AbortSignal[] = [];
        const recordClose = (key: string, gen: number) => {
          expect(updating.has(key), `a close of ${key} ran while it was updating`).toBe(false);
          const name = `${key}#${gen}`;
          closes.set(name, (closes.get(name) ?? 0) + 1);
        };

        const backend = async (ok: boolean, what: string) => {
          await s.schedule(Promise.resolve(what));
          if (!ok) throw new Error(`${what} failed`);
        };

        const run = async (o: Op): Promise<unknown> => {
          switch (o.kind) {
            case 'advance':
              return inner.increment(o.ms);
            case 'update':
              return protocol
                .update(o.id, async () => {
                  updating.add(o.id);
                  try {
                    await backend(o.ok, `update ${o.id}`);
                  } finally {
                    updating.delete(o.id);
                  }
                  const gen = (generation.get(o.id) ?? 0) + 1;
                  generation.set(o.id, gen);
                  return {
                    value: gen,
                    expiresAt: inner.now() + TTL,
                    close: async (signal: AbortSignal) => {
                      signals.push(signal);
                      recordClose(o.id, gen);
                      await s.schedule(Promise.resolve(`expiry close ${o.id}`));
                    },
                  };
                })
                .catch(() => {});
            case 'close':
              return protocol
                .close(o.id, async () => {
                  await backend(o.ok, `close ${o.id}`);
                  recordClose(o.id, generation.get(o.id) ?? 0);
                })
                .catch(() => {});
            case 'fail':
              return protocol.fail(o.id);
          }
        };

        // Each operation starts when the scheduler says so; its backend calls and
        // the expiry closes' work are scheduled too.
        const started = ops.map((o) => s.schedule(Promise.resolve(o)).then(run));
        await s.waitFor(Promise.all(started));
        // Let every remaining expiration expire and close.
        inner.increment(10 * TTL);
        await flush();
        await s.waitAll();
        await flush();

        expect(errors).toEqual([]);
        for (const [name, count] of closes) expect(count, `closes of ${name}`).toBe(1);
        // Every id that was ever armed is closed by now: its last generation exactly once.
        for (const [key, gen] of generation) expect(closes.get(`${key}#${gen}`), `last ${key}`).toBe(1);
        expect(signals.every((signal) => signal.aborted)).toBe(true);
        expect(manager.size()).toBe(0);
        expect(protocol.executors).toBe(0);

        await manager.dispose();
        expect(pending.size).toBe(0);
        expect(actors.filter((a) => a.getSnapshot().status === 'active')).toEqual([]);
        if (engine === 'live actors') expect(actors.length).toBeGreaterThan(0);
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });
});
