/**
 * examples/sessions: an app machine that spawns a session per login, each
 * invoking an expiration, on a SimulatedClock given to createActor only.
 */
import { SimulatedClock, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { ACTOR_STOPPED, CLOSE_SETTLED } from '../src/index.js';
import { serverMachine } from '../examples/sessions/server.js';
import { sessionMachine } from '../examples/sessions/session.js';
import { deferred, flush } from './helpers.js';

const TTL = 30_000;

/** The server on a SimulatedClock, with a backend whose session ends the test can hold. */
function server(options: { hold?: boolean } = {}) {
  const clock = new SimulatedClock();
  const ends: Array<{ id: string; signal: AbortSignal; at: number; done: ReturnType<typeof deferred<void>> }> = [];
  const actor = createActor(serverMachine, {
    clock,
    input: {
      ttlMs: TTL,
      end: (id, signal) => {
        const done = deferred();
        ends.push({ id, signal, at: clock.now(), done });
        if (!options.hold) done.resolve();
        return done.promise;
      },
    },
  }).start();
  const context = () => actor.getSnapshot().context;
  const open = () => Object.keys(context().sessions).sort();
  return { clock, actor, ends, context, open };
}

describe('examples/sessions', () => {
  it('an idle session expires at its TTL: the backend ends it once, and the server hears onDone say closed', async () => {
    const { clock, actor, ends, context, open } = server();
    actor.send({ type: 'login', id: 'alice' });
    actor.send({ type: 'login', id: 'bob' });
    clock.increment(TTL - 1);
    await flush();
    expect(ends).toEqual([]);
    expect(open()).toEqual(['alice', 'bob']);
    clock.increment(1);
    await flush();
    expect(ends.map(({ id, at }) => ({ id, at }))).toEqual([
      { id: 'alice', at: TTL },
      { id: 'bob', at: TTL },
    ]);
    expect(ends.every(({ signal }) => signal.reason === CLOSE_SETTLED)).toBe(true);
    expect(context().ended).toEqual([
      { id: 'alice', how: 'expired' },
      { id: 'bob', how: 'expired' },
    ]);
    expect(open()).toEqual([]);
    actor.stop();
  });

  it('activity starts a fresh TTL (the invoked expiration is replaced); logout ends it without the backend', async () => {
    const { clock, actor, ends, context, open } = server();
    actor.send({ type: 'login', id: 'alice' });
    actor.send({ type: 'login', id: 'bob' });
    clock.increment(20_000);
    actor.send({ type: 'activity', id: 'alice' });
    actor.send({ type: 'login', id: 'bob' }); // a second login of a live session counts as activity
    clock.increment(TTL - 1); // 49,999: past the first deadline, 1 ms before the fresh one
    await flush();
    expect(ends).toEqual([]);
    expect(open()).toEqual(['alice', 'bob']);
    actor.send({ type: 'logout', id: 'alice' });
    expect(context().ended).toEqual([{ id: 'alice', how: 'logged out' }]);
    clock.increment(1);
    await flush();
    expect(ends.map(({ id, at }) => ({ id, at }))).toEqual([{ id: 'bob', at: 50_000 }]);
    expect(context().ended).toEqual([
      { id: 'alice', how: 'logged out' },
      { id: 'bob', how: 'expired' },
    ]);
    clock.increment(10 * TTL);
    await flush();
    expect(ends).toHaveLength(1);
    actor.stop();
  });

  it('activity while the session is being ended comes too late: ignored, the end is not aborted', async () => {
    const { clock, actor, ends, context } = server({ hold: true });
    actor.send({ type: 'login', id: 'bob' });
    clock.increment(TTL);
    await flush();
    expect(ends).toHaveLength(1);
    const session = context().sessions['bob']!;
    expect(session.getSnapshot().value).toEqual({ open: 'closing' });
    actor.send({ type: 'activity', id: 'bob' });
    actor.send({ type: 'logout', id: 'bob' });
    expect(ends[0]!.signal.aborted).toBe(false);
    ends[0]!.done.resolve();
    await flush();
    expect(ends[0]!.signal.reason).toBe(CLOSE_SETTLED);
    expect(context().ended).toEqual([{ id: 'bob', how: 'expired' }]);
    expect(session.getSnapshot().output).toEqual({ id: 'bob', how: 'expired' });
    actor.stop();
  });

  it('stopping the server aborts a running end with ACTOR_STOPPED', async () => {
    const { clock, actor, ends } = server({ hold: true });
    actor.send({ type: 'login', id: 'bob' });
    clock.increment(TTL);
    await flush();
    actor.stop();
    expect(ends[0]!.signal.reason).toBe(ACTOR_STOPPED);
  });

  it('a session on its own reacts to onDone the same way', async () => {
    const clock = new SimulatedClock();
    const session = createActor(sessionMachine, {
      clock,
      input: { id: 's', ttlMs: 10, end: async () => {} },
    }).start();
    clock.increment(10);
    await flush();
    expect(session.getSnapshot().output).toEqual({ id: 's', how: 'expired' });
  });
});
