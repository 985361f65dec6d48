/**
 * The naive XState design, to show why the manager is built the way it is: one
 * parent machine that `spawnChild`s every expiration and routes with `sendTo`.
 * Each spawn copies the parent snapshot's `children`, so creating N is O(N²).
 */
import { type AnyActorRef, createActor, sendTo, setup, spawnChild } from 'xstate';
import { expirationMachine, realClock } from '../src/index.js';

const parent = setup({
  types: { events: {} as { type: 'new'; id: string; deadline: number } | { type: 'stop'; id: string } },
  actors: { expiration: expirationMachine },
}).createMachine({
  on: {
    new: {
      actions: spawnChild('expiration', {
        id: ({ event }) => (event as { id: string }).id,
        input: ({ event }) => ({
          id: (event as { id: string }).id,
          deadline: (event as { deadline: number }).deadline,
          close: () => {},
          executor: { asyncExec: async (task: () => unknown) => void (await task()) },
          clock: realClock,
          onCloseError: () => {},
        }),
      }),
    },
    stop: { actions: sendTo(({ event, system }) => system.get(event.id) as AnyActorRef, { type: 'stop' }) },
  },
});

/** Creates `n` expirations through the naive parent and stops it. */
export function createNaive(n: number, deadline: number): void {
  const actor = createActor(parent, { clock: realClock }).start();
  for (let i = 0; i < n; i++) actor.send({ type: 'new', id: `e${i}`, deadline });
  actor.stop();
}
