/**
 * One user session as an app's own statechart: while it is `open` it invokes an
 * expiration (`expirationMachine`) with `{ id, deadline: { ttlMs }, close }`,
 * and it ends the way the expiration's `onDone` says: `expired` when the close
 * ran, `loggedOut` when the expiration was deleted.
 */
import { type ActorRefFrom, assign, sendTo, setup } from 'xstate';
import { type ExpirationNotice, expirationMachine } from '../../src/index.js';

/** Ends a session in the app's backend; `signal` aborts if the session actor is stopped meanwhile. */
export type EndSession = (id: string, signal: AbortSignal) => Promise<void>;

/** How a session ended. */
export type SessionEnd = 'expired' | 'logged out';

/** What a session starts with. */
export interface SessionInput {
  /** The session's id (the user's, say). */
  id: string;
  /** How long a session lives without activity. */
  ttlMs: number;
  /** Ends the session in the backend when it expires. */
  end: EndSession;
}

/** Events a session takes; `expiration.closing` is the notice its expiration sends when its close starts. */
export type SessionEvent = { type: 'activity' } | { type: 'logout' } | ExpirationNotice;

/** What a session ends with (its parent gets it in the done event). */
export interface SessionOutput {
  id: string;
  how: SessionEnd;
}

/**
 * A session: `open.live` until its expiration's close starts (`open.closing`),
 * then `expired`; or `loggedOut`.
 *
 * - `activity` re-enters `open`: XState stops the invoked expiration and starts
 *   a fresh one with a full TTL. While the close runs (`open.closing`) activity
 *   comes too late and is ignored: leaving `open` would stop the expiration
 *   and abort the close's signal (`ACTOR_STOPPED`).
 * - `logout` deletes the expiration: it ends without closing.
 */
export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionInput & { how: SessionEnd | undefined },
    events: {} as SessionEvent,
    output: {} as SessionOutput,
  },
  actors: { expiration: expirationMachine },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ ...input, how: undefined }),
  initial: 'open',
  states: {
    open: {
      // No clock here: the expiration reads the one given to createActor.
      invoke: {
        id: 'expiration',
        src: 'expiration',
        input: ({ context }) => ({
          id: context.id,
          deadline: { ttlMs: context.ttlMs },
          close: (signal: AbortSignal) => context.end(context.id, signal),
        }),
        onDone: [
          {
            guard: ({ event }) => event.output.closed,
            target: 'expired',
            actions: assign({ how: 'expired' as const }),
          },
          { target: 'loggedOut', actions: assign({ how: 'logged out' as const }) },
        ],
      },
      initial: 'live',
      states: {
        live: {
          on: {
            activity: { target: '#session.open', reenter: true },
            logout: { actions: sendTo('expiration', { type: 'delete' }) },
            'expiration.closing': 'closing',
          },
        },
        closing: {},
      },
    },
    expired: { type: 'final' },
    loggedOut: { type: 'final' },
  },
  output: ({ context }) => ({ id: context.id, how: context.how! }),
});

/** A running session. */
export type SessionRef = ActorRefFrom<typeof sessionMachine>;
