import {
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type StateValue,
  createMachine,
  getInitialMicrosteps,
  getMicrosteps,
} from 'xstate';

/** A guard as XState calls it: `({ context, event }, params)`. */
export type TableGuard = (args: { context: unknown; event: unknown }, params: unknown) => boolean;
/** A delay as XState calls it: milliseconds from `({ context, event })`. */
export type TableDelay = (args: { context: unknown; event: unknown }, params: unknown) => number;
/** An `assign` action's assignment: a function of the args, or a map of values and functions. */
export type TableAssignment =
  | ((args: { context: unknown; event: unknown }, params: unknown) => object)
  | Record<string, unknown>;

/**
 * One operation of a transition, in the order XState runs them (exit actions,
 * transition actions, entry actions).
 *
 * - `cancel`: the pending delayed event is cancelled (leaving the state of an `after`).
 * - `schedule`: the delayed event is armed, `delay` ms from now (entering such a state);
 *   `name` is the machine's name for a named delay.
 * - `assign`: the context is updated by the machine's own `assign` action.
 * - `effect`: a named custom action runs; the engine binds it by name.
 */
export type TableOp =
  | { kind: 'cancel'; event: string }
  | { kind: 'schedule'; event: string; delay: number | TableDelay; name: string | undefined }
  | { kind: 'assign'; name: string; assignment: TableAssignment }
  | { kind: 'effect'; name: string };

/** One guarded candidate of a (state, event) pair, in the order XState tries them. */
export interface TableTransition {
  /** The named guard, when guarded; its implementation is the machine's own. */
  guard: { name: string; test: TableGuard } | undefined;
  /** The state node that declares it (`expiration.active`). */
  source: string;
  /** Index of the leaf state it ends in. */
  target: number;
  /** What runs, in order. */
  ops: readonly TableOp[];
}

/** A leaf state of the machine (atomic or final): a row of the table. */
export interface TableLeaf {
  /** The state node's id: `expiration.expired.queued`. */
  id: string;
  /** The path below the root: `expired.queued`. */
  path: string;
  /** The machine's state value for it: `{ expired: 'queued' }`. */
  value: StateValue;
  /** The top-level state it belongs to: `expired`. */
  top: string;
  /** Whether it is a final state of the machine. */
  final: boolean;
  /** A final state's static `output`. */
  output: unknown;
  /** The delayed event armed while in this leaf (`xstate.after.deadline.expiration.active`), if any. */
  delayed: string | undefined;
  /** Event type → candidates, in order. An event with no entry is ignored here. */
  on: ReadonlyMap<string, readonly TableTransition[]>;
}

/**
 * A statechart compiled to a table: (leaf state, event type) → ordered guarded
 * candidates → (target leaf, ordered operations). Every entry is what XState
 * itself answered for that pair, so the table is the machine, not a copy of it.
 */
export interface TransitionTable {
  /** The machine it was compiled from. */
  machine: AnyStateMachine;
  /** Every leaf state, in document order; transitions refer to them by index. */
  leaves: readonly TableLeaf[];
  /** The initial transition: the leaf entered and what runs on entry. */
  initial: { target: number; ops: readonly TableOp[] };
  /** Every event type some state accepts. */
  events: readonly string[];
}

/** A machine feature the table interpreter does not support. */
export class UnsupportedMachineError extends TypeError {
  /**
   * Names what is not supported, and where.
   *
   * @param feature what is not supported, e.g. `parallel states`.
   * @param state the id of the state node that uses it.
   */
  constructor(
    readonly feature: string,
    readonly state: string,
  ) {
    super(`compileMachine: ${feature} ${feature.endsWith('s') ? 'are' : 'is'} not supported (state "${state}")`);
    this.name = 'UnsupportedMachineError';
  }
}

const compiled = new WeakMap<AnyStateMachine, TransitionTable>();

/**
 * Compiles `machine` into a {@link TransitionTable}, once per machine (cached).
 *
 * For every leaf state and every event it could take, XState is asked which
 * candidate wins and what runs: each candidate's guard is forced through
 * `machine.provide`, `getTransitionData` confirms the winner, and
 * `getMicrosteps` gives the target and the actions in order.
 *
 * @throws UnsupportedMachineError naming the feature and the state, for
 *   parallel or history states, `always`, `invoke`, wildcard events, inline or
 *   unknown actions and guards, guard combinators, built-in actions other than
 *   `assign` and `after`'s own, more than one `after` delay active at a time,
 *   final states below the top level (their done events), and transitions that
 *   raise further events.
 */
export function compileMachine(machine: AnyStateMachine): TransitionTable {
  let table = compiled.get(machine);
  if (!table) compiled.set(machine, (table = compile(machine)));
  return table;
}

type Impl = Record<string, unknown>;
const SENTINEL = 8e15; // far beyond any real delay: a probe's delay that names its implementation

function compile(machine: AnyStateMachine): TransitionTable {
  const { actions, guards, delays } = machine.implementations as { actions: Impl; guards: Impl; delays: Impl };
  const delayNames = Object.keys(delays);
  // The probe: every guard answers as forced, every named action is a marker
  // that shows where it runs (an `assign` would otherwise vanish into the
  // context), every named delay resolves to a number that names it.
  // Keyed by guard name; an unguarded candidate is recorded under `undefined`, which no guard is named.
  const forced = new Map<string | undefined, boolean>();
  const probe = machine.provide({
    guards: Object.fromEntries(Object.keys(guards).map((name) => [name, () => forced.get(name) === true])),
    actions: Object.fromEntries(Object.keys(actions).map((name) => [name, () => {}])),
    delays: Object.fromEntries(delayNames.map((name, i) => [name, () => SENTINEL + i])),
  }) as AnyStateMachine;

  const nodes = allNodes(probe.root);
  nodes.forEach((node) => checkNode(node, { actions, guards, delays }));
  const leafNodes = nodes.filter((node) => Object.keys(node.states).length === 0);
  const leafIndex = new Map(leafNodes.map((node, i) => [node.id, i]));

  const targetOf = (snapshot: AnyMachineSnapshot, state: string): number => {
    const atomic = (snapshot._nodes as AnyStateNode[]).filter((n) => Object.keys(n.states).length === 0);
    // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable: checkNode() refuses parallel states
    if (atomic.length !== 1) throw new UnsupportedMachineError('parallel states', state);
    return leafIndex.get(atomic[0]!.id)!;
  };

  const opsOf = (executed: ReadonlyArray<{ type: string; params?: unknown }>, state: string): TableOp[] =>
    executed.map(({ type, params }) => {
      const p = (params ?? {}) as { sendId?: string; id?: string; delay?: number };
      // checkNode() let through only after's own cancel and delayed raise: these are they.
      if (type === 'xstate.cancel') return { kind: 'cancel', event: p.sendId! };
      if (type === 'xstate.raise') {
        const named = delayNames[p.delay! - SENTINEL];
        const delay = named === undefined ? p.delay! : (delays[named] as TableDelay);
        return { kind: 'schedule', event: p.id!, delay, name: named };
      }
      const implementation = actions[type] as { type?: string; assignment?: TableAssignment } | undefined;
      // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable: checkNode() refuses such actions first
      if (implementation === undefined) throw new UnsupportedMachineError(`the inline or built-in action "${type}"`, state);
      if (implementation.type === 'xstate.assign') return { kind: 'assign', name: type, assignment: implementation.assignment! };
      // Stryker disable next-line StringLiteral: string-typed implementations are XState's own
      if (typeof implementation.type === 'string' && implementation.type.startsWith('xstate.')) {
        throw new UnsupportedMachineError(`the built-in action ${implementation.type} (named "${type}")`, state);
      }
      return { kind: 'effect', name: type };
    });

  // The initial transition, as XState takes it. The table does not depend on the
  // context, and a machine's context factory may refuse a made-up input: the
  // probe takes it with an empty context instead.
  const contextless = createMachine({ ...probe.config, context: {} }, probe.implementations) as AnyStateMachine;
  const initialSteps = getInitialMicrosteps(contextless, undefined as never);
  // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable: checkNode() refuses a second step
  if (initialSteps.length !== 1) throw new UnsupportedMachineError('eventless or raised transitions', probe.root.id);
  const [initialSnapshot, initialActions] = initialSteps[0]!;
  const initial = { target: targetOf(initialSnapshot, probe.root.id), ops: opsOf(initialActions, probe.root.id) };

  const events = new Set<string>();
  const leaves: TableLeaf[] = leafNodes.map((leaf) => {
    const lineage = [leaf, ...ancestors(leaf)];
    const delayed = [...new Set(lineage.flatMap((node) => node.after.map((t: AnyTransitionDefinition) => t.eventType)))];
    if (delayed.length > 1) throw new UnsupportedMachineError('more than one active after delay', leaf.id);
    const path = leaf.path as string[];
    const value = pathToValue(path);
    const on = new Map<string, TableTransition[]>();
    const final = leaf.type === 'final';
    // A final state takes nothing, though its ancestors declare transitions: the machine is done.
    if (!final) {
      const types = new Set(lineage.flatMap((node) => [...(node.transitions as Map<string, unknown>).keys()]));
      for (const type of types) {
        const candidates = lineage.flatMap((node) => (node.transitions.get(type) ?? []) as AnyTransitionDefinition[]);
        const row = probeCandidates(probe, forced, leaf, value, type, candidates, (snapshot, executed) => ({
          target: targetOf(snapshot, leaf.id),
          ops: opsOf(executed, leaf.id),
        }));
        // `on: { X: [] }` declares X with no candidates: X is ignored here.
        if (row.length > 0) {
          on.set(type, row.map(({ candidate, target, ops }) => tableTransition(candidate, target, ops, guards)));
          events.add(type);
        }
      }
    }
    return {
      id: leaf.id,
      path: path.join('.'),
      value,
      top: path[0]!,
      final,
      output: (leaf.config as { output?: unknown }).output,
      delayed: delayed[0],
      on,
    };
  });
  return { machine, leaves, initial, events: [...events] };
}

/**
 * Asks XState, candidate by candidate, what happens when `type` arrives in
 * `leaf`: earlier guarded candidates forced false, this one's guard true. A
 * candidate that cannot win (after an unguarded one, or sharing a guard with
 * an earlier one) is left out.
 */
function probeCandidates<T>(
  probe: AnyStateMachine,
  forced: Map<string | undefined, boolean>,
  leaf: AnyStateNode,
  value: StateValue,
  type: string,
  candidates: AnyTransitionDefinition[],
  read: (snapshot: AnyMachineSnapshot, executed: Array<{ type: string; params?: unknown }>) => T,
): Array<T & { candidate: AnyTransitionDefinition }> {
  const row: Array<T & { candidate: AnyTransitionDefinition }> = [];
  const snapshot = probe.resolveState({ value, context: {} });
  for (const [i, candidate] of candidates.entries()) {
    forced.clear();
    const earlier = candidates.slice(0, i);
    if (earlier.some((t) => guardName(t) === undefined)) break;
    earlier.forEach((t) => forced.set(guardName(t), false));
    const name = guardName(candidate);
    // A guard an earlier candidate has is false here: this candidate cannot win.
    if (forced.has(name)) continue;
    forced.set(name, true);
    const event = { type };
    const chosen = probe.getTransitionData(snapshot, event);
    // Stryker disable next-line BlockStatement,ConditionalExpression,LogicalOperator: unreachable: XState picks the forced candidate
    if (chosen.length !== 1 || chosen[0] !== candidate) {
      // Stryker disable next-line StringLiteral: unreachable, as above
      throw new UnsupportedMachineError(`a transition XState does not choose as ordered (event "${type}")`, leaf.id);
    }
    const steps = getMicrosteps(probe, snapshot, event);
    // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable: checkNode() refuses a second step
    if (steps.length !== 1) throw new UnsupportedMachineError(`eventless or raised transitions (after "${type}")`, leaf.id);
    const [next, executed] = steps[0]!;
    row.push({ ...read(next, executed), candidate });
  }
  forced.clear();
  return row;
}

function tableTransition(candidate: AnyTransitionDefinition, target: number, ops: TableOp[], guards: Impl): TableTransition {
  const name = guardName(candidate);
  return {
    guard: name === undefined ? undefined : { name, test: guards[name] as TableGuard },
    source: candidate.source.id,
    target,
    ops,
  };
}

/** A guard's name, for a guard given by name (`'deadlineReached'` or `{ type: 'deadlineReached' }`). */
function guardName(transition: AnyTransitionDefinition): string | undefined {
  const guard = transition.guard as unknown;
  if (guard === undefined) return undefined;
  return typeof guard === 'string' ? guard : (guard as { type: string }).type;
}

const isAfterEvent = (type: string | undefined): boolean => typeof type === 'string' && type.startsWith('xstate.after.');

/** Rejects, by name and state, what the table interpreter does not do. */
function checkNode(node: AnyStateNode, { actions, guards, delays }: { actions: Impl; guards: Impl; delays: Impl }): void {
  const fail = (feature: string): never => {
    throw new UnsupportedMachineError(feature, node.id);
  };
  if (node.type === 'parallel') fail('parallel states');
  if (node.type === 'history') fail('history states');
  if (node.always?.length) fail('always (eventless) transitions');
  if (node.invoke.length) fail('invoked actors');
  // Entering a final state below the top level raises xstate.done.state.* (onDone): a second microstep.
  if (node.type === 'final' && ancestors(node).length > 1) fail('done events of nested final states');
  const checkAction = (action: unknown): void => {
    if (typeof action === 'string') {
      // A name provided as undefined (`provide({ actions: { name: undefined } })`) has no implementation.
      if (actions[action] === undefined) fail(`the unknown action "${action}"`);
      return;
    }
    // XState keeps an undefined or null action as it is given (`entry: [undefined]`).
    const builtIn = action as { type?: string; id?: string; sendId?: string; event: { type?: unknown }; delay?: unknown } | undefined;
    // `after` adds a delayed raise of its event on entry and a cancel on exit, both named after its event.
    const raisesAfter = builtIn?.type === 'xstate.raise' && isAfterEvent(builtIn.id);
    if (raisesAfter && builtIn!.event.type === builtIn!.id && builtIn!.delay !== undefined) return;
    if (builtIn?.type === 'xstate.cancel' && isAfterEvent(builtIn.sendId)) return;
    fail(`inline actions (${builtIn?.type ?? typeof action})`);
  };
  node.entry.forEach(checkAction);
  node.exit.forEach(checkAction);
  for (const [type, transitions] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
    if (type === '*' || type.endsWith('.*')) fail(`wildcard events ("${type}")`);
    for (const transition of transitions) {
      transition.actions.forEach(checkAction);
      const guard = transition.guard as unknown;
      if (guard === undefined) continue;
      if (typeof guard === 'function') {
        // and(), or(), not(), stateIn() are functions that carry their `check`.
        const { type } = guard as { type?: string; check?: unknown };
        fail('check' in guard ? `guard combinators (${type ?? 'unknown'})` : 'inline guards');
      }
      const { type: name, params } = (typeof guard === 'string' ? { type: guard } : guard) as { type: string; params?: unknown };
      if (name.startsWith('xstate.')) fail(`guard combinators (${name})`);
      if (params !== undefined) fail(`guard parameters (${name})`);
      if (!(name in guards)) fail(`the unknown guard "${name}"`);
      if (typeof (guards[name] as { check?: unknown }).check === 'function') fail(`guard combinators ("${name}")`);
    }
    if ((transitions[0] as { delay?: unknown } | undefined)?.delay !== undefined) {
      const delay = (transitions[0] as { delay?: unknown }).delay;
      if (typeof delay === 'string' && !(delay in delays)) fail(`the unknown delay "${delay}"`);
      // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable: after's delays are never functions
      if (typeof delay === 'function') fail('inline delays');
    }
  }
  const output = (node.config as { output?: unknown }).output;
  if (node.type === 'final' && typeof output === 'function') fail('output functions of final states');
}

function allNodes(root: AnyStateNode): AnyStateNode[] {
  return [root, ...Object.values(root.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

function ancestors(node: AnyStateNode): AnyStateNode[] {
  const result: AnyStateNode[] = [];
  for (let parent = node.parent; parent; parent = parent.parent) result.push(parent);
  return result;
}

function pathToValue(path: string[]): StateValue {
  return path.slice(0, -1).reduceRight<StateValue>((value, key) => ({ [key]: value }), path.at(-1)!);
}
