/**
 * The app: a server machine that spawns a session machine per login and routes
 * each user's events to it. Every session invokes its own expiration.
 */
import { type DoneActorEvent, assign, enqueueActions, setup } from 'xstate';
import { type EndSession, type SessionEnd, type SessionOutput, type SessionRef, sessionMachine } from './session.js';

/** What the server starts with. */
export interface ServerInput {
  /** How long a session lives without activity. */
  ttlMs: number;
  /** Ends a session in the backend when it expires. */
  end: EndSession;
}

/** What the server takes: one user's calls. */
export type ServerEvent = { type: 'login'; id: string } | { type: 'activity'; id: string } | { type: 'logout'; id: string };

/** The server's sessions by id, and how the ended ones ended, in order. */
export interface ServerContext extends ServerInput {
  sessions: Record<string, SessionRef>;
  ended: Array<{ id: string; how: SessionEnd }>;
}

/**
 * `login` opens a session (a second login of a live one counts as activity);
 * `activity` and `logout` go to the user's session; a session's done event
 * (XState's `xstate.done.actor.<id>`, with the session's output) forgets it.
 */
export const serverMachine = setup({
  types: {
    input: {} as ServerInput,
    context: {} as ServerContext,
    events: {} as ServerEvent,
  },
  actors: { session: sessionMachine },
}).createMachine({
  id: 'server',
  context: ({ input }) => ({ ...input, sessions: {}, ended: [] }),
  on: {
    login: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const session = context.sessions[event.id];
        if (session) return enqueue.sendTo(session, { type: 'activity' });
        enqueue.assign({
          sessions: ({ context, spawn }) => ({
            ...context.sessions,
            [event.id]: spawn('session', {
              id: event.id,
              input: { id: event.id, ttlMs: context.ttlMs, end: context.end },
            }),
          }),
        });
      }),
    },
    activity: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const session = context.sessions[event.id];
        if (session) enqueue.sendTo(session, { type: 'activity' });
      }),
    },
    logout: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const session = context.sessions[event.id];
        if (session) enqueue.sendTo(session, { type: 'logout' });
      }),
    },
    // Sessions are the server's only children.
    'xstate.done.actor.*': {
      actions: assign(({ context, event }) => {
        const { id, how } = (event as unknown as DoneActorEvent<SessionOutput>).output;
        const { [id]: _ended, ...sessions } = context.sessions;
        return { sessions, ended: [...context.ended, { id, how }] };
      }),
    },
  },
});
