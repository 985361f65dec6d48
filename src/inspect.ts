import type { AnyActorRef, AnyEventObject, MachineContext } from 'xstate';
import { ExpireEngine } from './manager/engine.js';
import type { ManagerContext } from './manager/manager-logic.js';

const isRef = (value: unknown): value is AnyActorRef =>
  typeof value === 'object' && value !== null && 'sessionId' in value && 'send' in value;

/**
 * Makes a manager or expiration context small and serializable for an inspector:
 * the manager shows its size and first ids, an expiration its id and deadline.
 * Any other context passes through.
 */
export function sanitizeContext(context: MachineContext): MachineContext {
  // Stryker disable next-line ConditionalExpression: only !context decides
  if (!context || typeof context !== 'object') return context;
  // The manager's context holds the engine: its own toJSON() is the small view.
  if ((context as Partial<ManagerContext>).engine instanceof ExpireEngine) return (context as ManagerContext).toJSON();
  if (typeof context.deadline === 'number' && typeof context.id === 'string') {
    return { id: context.id, deadline: context.deadline };
  }
  return context;
}

/** Replaces actor refs in an event by their ids and drops functions and promises. */
export function sanitizeEvent(event: AnyEventObject): AnyEventObject {
  // Stryker disable next-line ObjectLiteral: the loop copies type too
  const result: AnyEventObject = { type: event.type };
  for (const [key, value] of Object.entries(event)) {
    if (isRef(value)) result[key] = value.id;
    else if (typeof value !== 'function' && !(value instanceof Promise)) result[key] = value;
  }
  return result;
}

/**
 * Options for `@statelyai/inspect` inspectors, so that large managers stay cheap
 * to inspect: `createWebSocketInspector({ url, ...inspectSanitizers })`.
 */
export const inspectSanitizers: InspectSanitizers = { sanitizeContext, sanitizeEvent };

/** The two sanitizer options of `@statelyai/inspect` inspectors. */
export interface InspectSanitizers {
  /** See {@link sanitizeContext}. */
  sanitizeContext: (context: MachineContext) => MachineContext;
  /** See {@link sanitizeEvent}. */
  sanitizeEvent: (event: AnyEventObject) => AnyEventObject;
}
