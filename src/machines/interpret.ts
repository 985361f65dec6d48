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

/**
 * What carries out a transition's operations on one entity: an engine's
 * record, a durable row. The stepper decides (guards, delays, assignments are
 * the machine's own functions); the driver only applies.
 */
export interface OpDriver {
  /** The pending delayed event is cancelled. */
  cancel(): void;
  /** The state's delayed event is armed `delayMs` from now (`Infinity`: a timer that never comes, armed nowhere). */
  schedule(delayMs: number): void;
  /** The machine's `assign` changed these context fields. */
  assign(changes: Record<string, unknown>): void;
  /** The named custom action runs. */
  effect(name: string): void;
}

/**
 * The stepper: runs `ops` (a transition's, in XState's order) through `driver`,
 * with `args` (the context and event) as XState would hand them to the
 * machine's delays and assignments. One loop for every engine.
 */
export function applyOps(ops: readonly TableOp[], args: TableArgs, driver: OpDriver): void {
  for (const op of ops) {
    switch (op.kind) {
      case 'cancel':
        driver.cancel();
        break;
      case 'schedule':
        driver.schedule(delayOf(op, args));
        break;
      case 'assign':
        driver.assign(assignmentOf(op, args));
        break;
      case 'effect':
        driver.effect(op.name);
        break;
    }
  }
}
