/**
 * An ExpireEngine driven by a table compiled in the test itself, from the
 * expiration machine provided anew: what `compileMachine` produces is what the
 * records run, so a wrong table entry shows as wrong behaviour here.
 */
import { type AnyActorRef, SimulatedClock, createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY, compileMachine, expirationMachine } from '../src/index.js';
import { ExpireEngine } from '../src/manager/engine.js';
import { installScheduler } from '../src/manager/scheduler.js';
import { TimerHeap } from '../src/manager/timer-heap.js';
import { deferred, flush } from './helpers.js';

/** An engine on a freshly compiled table; records only, unless `actorOf` is asked. */
function freshEngine() {
  const table = compileMachine(expirationMachine.provide({}));
  const clock = new SimulatedClock();
  const heap = new TimerHeap(clock);
  const parent = createActor(createMachine({}), { clock: heap }).start() as AnyActorRef;
  const errors: unknown[] = [];
  const engine = new ExpireEngine({
    table,
    heap,
    onCloseError: (_id, error) => void errors.push(error),
    parent,
    materializeAll: false,
    scheduler: installScheduler(parent.system, heap),
  });
  const closes: string[] = [];
  const close = (name: string) => () => void closes.push(`${name}@${clock.now()}`);
  return { table, clock, heap, engine, closes, close, errors };
}

describe('an engine on a freshly compiled table', () => {
  it('starts active with the deadline armed, and closes once at the deadline, not before', async () => {
    const { table, clock, heap, engine, closes, close } = freshEngine();
    expect(table.initial.ops.map((op) => op.kind)).toEqual(['schedule']);
    engine.new('a', 100, close('a'), undefined);
    expect(heap.size).toBe(1);
    clock.increment(99);
    await flush();
    expect(engine.state('a')).toBe('active');
    clock.increment(1);
    expect(engine.state('a')).toBe('expired');
    await flush();
    expect(closes).toEqual(['a@100']);
    expect(engine.has('a')).toBe(false);
    expect(heap.size).toBe(0);
  });

  it('re-arms before a far deadline, then expires at it', async () => {
    const { clock, engine, closes, close } = freshEngine();
    engine.new('far', MAX_TIMER_DELAY + 10, close('far'), undefined);
    clock.increment(MAX_TIMER_DELAY);
    await flush();
    expect(engine.state('far')).toBe('active');
    clock.increment(10);
    await flush();
    expect(closes).toEqual([`far@${MAX_TIMER_DELAY + 10}`]);
  });

  it('pauses on stop, keeping the deadline; resumes on start; expires at once on expire', async () => {
    const { clock, engine, closes, close } = freshEngine();
    engine.new('a', 100, close('a'), undefined);
    engine.route('stop', 'a');
    clock.increment(200);
    await flush();
    expect(engine.state('a')).toBe('paused');
    engine.route('start', 'a'); // the deadline has passed: it expires on the next tick
    clock.increment(0);
    await flush();
    expect(closes).toEqual(['a@200']);
    engine.new('b', 1000, close('b'), undefined);
    engine.route('stop', 'b');
    engine.route('expire', 'b');
    await flush();
    expect(closes).toEqual(['a@200', 'b@200']);
  });

  it('a renewal takes the new deadline and close; delete drops it without closing', async () => {
    const { clock, engine, closes, close } = freshEngine();
    engine.new('a', 100, close('old'), undefined);
    engine.route('stop', 'a');
    engine.new('a', 300, close('new'), undefined);
    expect(engine.state('a')).toBe('active');
    clock.increment(299);
    await flush();
    expect(closes).toEqual([]);
    clock.increment(1);
    await flush();
    expect(closes).toEqual(['new@300']);
    engine.new('b', 400, close('b'), undefined);
    expect(engine.route('delete', 'b')).toBe(true);
    clock.increment(100);
    await flush();
    expect(closes).toEqual(['new@300']);
  });

  it('dispose aborts a running close; shutdown closes what is live', async () => {
    const { clock, engine, close } = freshEngine();
    const running = deferred();
    const signals: AbortSignal[] = [];
    engine.new('a', 10, (signal) => (signals.push(signal), running.promise), undefined);
    clock.increment(10);
    await flush();
    expect(engine.closingCount).toBe(1);
    engine.new('b', 1000, close('b'), undefined);
    const drained = engine.shutdown();
    await flush();
    running.resolve();
    await drained;
    expect(engine.size).toBe(0);
    expect(engine.closingCount).toBe(0);
    await engine.dispose();
    expect(signals[0]!.aborted).toBe(true);
  });

  it('materialized, its actor takes the pending deadline', async () => {
    const { clock, engine, closes, close } = freshEngine();
    engine.new('a', 100, close('a'), undefined);
    clock.increment(50);
    const actor = engine.actorOf('a')!;
    clock.increment(49);
    expect(actor.getSnapshot().value).toBe('active');
    clock.increment(1);
    await flush();
    expect(closes).toEqual(['a@100']);
  });

  it('shutdown called again is the same drain, resolved once everything has closed', async () => {
    const { engine, closes, close } = freshEngine();
    engine.new('a', 1000, close('a'), undefined);
    engine.route('stop', 'a'); // paused: it closes after its update, here at once
    const first = engine.shutdown();
    const second = engine.shutdown();
    expect(second).toBe(first);
    await first;
    expect(closes).toEqual(['a@0']);
    expect(engine.draining).toBe(true);
  });
});
