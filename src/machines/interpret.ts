import type { TableOp, TableTransition } from './compile.js';

/** The args XState hands guards, delays and assigns: one object an engine refills per call. */
export interface TableArgs {
  context: unknown;
  event: unknown;
}

/**
 * The first candidate whose guard passes, as XState chooses: the machine's own
 * guard functions, called as XState calls them.
 */
export function chooseTransition(
  transitions: readonly TableTransition[],
  args: TableArgs,
): TableTransition | undefined {
  for (const transition of transitions) {
    if (transition.guard === undefined || transition.guard.test(args, undefined)) return transition;
  }
  return undefined;
}

/** Milliseconds a `schedule` operation arms its delayed event for. */
export function delayOf(op: Extract<TableOp, { kind: 'schedule' }>, args: TableArgs): number {
  return typeof op.delay === 'number' ? op.delay : op.delay(args, undefined);
}

/**
 * What an `assign` operation changes, as XState's `assign` computes it: the
 * assignment function's result, or each property of an assignment object
 * (a function of the args, or a value).
 */
export function assignmentOf(op: Extract<TableOp, { kind: 'assign' }>, args: TableArgs): Record<string, unknown> {
  const { assignment } = op;
  if (typeof assignment === 'function') return assignment(args, undefined) as Record<string, unknown>;
  const partial: Record<string, unknown> = {};
  for (const key of Object.keys(assignment)) {
    const value = assignment[key];
    partial[key] = typeof value === 'function' ? value(args, undefined) : value;
  }
  return partial;
}
