import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type Requirement, createExpireManager, requirements } from '../../src/index.js';
import {
  DEFAULT_MODEL_PAUSE_TIMEOUT_MS,
  DEFAULT_MODEL_TTL_MS,
  PAUSE_TIMEOUT_EVENT,
  durableOnlyModelEvents,
  generateModelPaths,
  modelCoverage,
  modelEventNames,
  modelStates,
  modelTransitions,
  runModelPaths,
} from '../../src/testing/index.js';
import { managerAdapter } from './manager-adapter.js';
import { summarize } from './summary.js';
import { flush } from '../helpers.js';

const DEPTH = 6; // the default of generateModelPaths, which docs/requirements.md counts too
const paths = generateModelPaths({ depth: DEPTH });
const allRequirements = Object.keys(requirements) as Requirement[];
// What an in-memory manager can make happen: every event but the durable-only ones.
const events = modelEventNames.filter((e) => !durableOnlyModelEvents.includes(e));
const coverage = modelCoverage(paths, allRequirements, { events });

describe(`model-based tests: ${paths.length} paths from the statechart (depth ${DEPTH})`, () => {
  it('every generated path holds on the public facade, entities as records', async () => {
    expect(await runModelPaths(paths, managerAdapter('records'))).toBe(paths.length);
   }, 60_000); // a few seconds; the ceiling is for a loaded machine

  it('every generated path holds on the public facade, entities as live actors (full state checked)', async () => {
    expect(await runModelPaths(paths, managerAdapter('actors'))).toBe(paths.length);
   }, 60_000);

  it('reaches every state', () => {
    expect(coverage.states.missing).toEqual([]);
    expect(coverage.states.covered).toHaveLength(modelStates().length);
  });

  it('takes every transition of the directed graph, the delayed ones included', () => {
    expect(coverage.transitions.missing.map((t) => t.id)).toEqual([]);
    expect(coverage.transitions.covered.map((t) => t.event)).toContain('xstate.after.deadline.expiration.active');
    expect(coverage.transitions.covered.map((t) => t.event)).toContain(PAUSE_TIMEOUT_EVENT);
  });

  it('traces every requirement through at least one path', () => {
    expect(coverage.requirements.missing).toEqual([]);
  });

  it('tags every transition with the requirements it realises', () => {
    expect(modelTransitions().filter((t) => t.requirements.length === 0)).toEqual([]);
  });

  it(`contains every sequence of accepted events up to depth ${DEPTH}, back-edges included`, ({ task }) => {
    const names = paths.map((p) => p.name);
    for (const sequence of ['stop > start > stop > start > deadline', 'rearm > rearm > stop > expire > runClose']) {
      expect(names.some((n) => n.startsWith(sequence))).toBe(true);
    }
    // Time passes while paused, and the deadline stays where it was (R1.2): to the millisecond.
    const half = Math.floor(DEFAULT_MODEL_TTL_MS / 2);
    for (const sequence of [
      'stop > deadline > start',
      `stop > tick(${half}) > start > tick(${DEFAULT_MODEL_TTL_MS - half - 1}) > deadline`,
      `tick(${half}) > stop > start > deadline`,
    ]) {
      expect(names.some((n) => n.startsWith(sequence)), sequence).toBe(true);
    }
    task.meta.modelSummary = summarize(paths, coverage, allRequirements.length);
  });

  it('retries, close timeouts and the failed state: with two attempts, and without retries (Go)', () => {
    const names = paths.map((p) => p.name);
    for (const sequence of [
      'deadline > runClose > failClose > backoff > runClose > failClose > retry', // failed, then retried by hand
      'deadline > runClose > closeTimeout > backoff > runClose > closeTimeout', // timed out twice: failed
      'deadline > runClose > closeTimeout > shutdown > runClose > closeTimeout', // failed while closing everything: disposed
      'deadline > runClose > failClose > renew', // a renewal ends the retries
    ]) {
      expect(names.some((n) => n.startsWith(sequence)), sequence).toBe(true);
    }
    const noRetry = paths.filter((p) => p.retry.attempts === 1);
    expect(noRetry.some((p) => /^deadline > runClose > failClose\b/.test(p.name) && p.steps[2]!.expect.state === 'closed')).toBe(true);
  });

  it('the pause timeout: a pause that outlives it resumes the saved deadline; another stop restarts it; none, in paths of their own', () => {
    const pause = DEFAULT_MODEL_PAUSE_TIMEOUT_MS[0]!;
    const steps = (name: string) => {
      const path = paths.find((p) => p.name.startsWith(name));
      expect(path, name).toBeDefined();
      return path!.steps.map((s) => [s.event, s.ms, s.then.join(','), s.expect.state]);
    };
    expect(steps('stop > pauseTimeout > deadline').slice(0, 3)).toEqual([
      ['stop', undefined, '', 'paused'],
      ['pauseTimeout', pause, '', 'active'],
      ['deadline', DEFAULT_MODEL_TTL_MS - pause, '', 'expired.queued'],
    ]);
    // 1 ms before the timeout another update joins: the pause lasts a whole timeout more.
    expect(steps(`stop > tick(${pause - 1}) > stop > tick(${pause - 1}) > start`).slice(0, 4)).toEqual([
      ['stop', undefined, '', 'paused'],
      ['tick', pause - 1, '', 'paused'],
      ['stop', undefined, '', 'paused'],
      ['tick', pause - 1, '', 'paused'],
    ]);
    // A tick that crosses the timeout: the pause ends on the way, and the update's failure finds the entity active.
    const half = Math.floor(DEFAULT_MODEL_TTL_MS / 2);
    expect(steps(`stop > tick(${half}) > start`).slice(0, 3)).toEqual([
      ['stop', undefined, '', 'paused'],
      ['tick', half, 'pauseTimeout', 'active'],
      ['start', undefined, '', 'active'],
    ]);
    // Without a pause timeout (Go's, the in-memory default) the same pause lasts: paths named with it.
    const none = paths.filter((p) => p.pauseTimeoutMs === undefined);
    expect(none.length).toBeGreaterThan(0);
    expect(none.every((p) => p.name.endsWith(' (pauseTimeoutMs: none)'))).toBe(true);
    expect(steps(`stop > tick(${half}) > start > tick(${DEFAULT_MODEL_TTL_MS - half - 1}) > deadline (pauseTimeoutMs: none)`)).toEqual([
      ['stop', undefined, '', 'paused'],
      ['tick', half, '', 'paused'],
      ['start', undefined, '', 'active'],
      ['tick', DEFAULT_MODEL_TTL_MS - half - 1, 'rearm', 'active'], // longer than a timer holds: re-armed on the way
      ['deadline', 1, '', 'expired.queued'],
    ]);
  });
});

describe('closing everything (dispose({ close: true })) with retries', () => {
  it('resolves once the last close failed for good, and drops the failed entity', async () => {
    const clock = new SimulatedClock();
    const manager = createExpireManager({ clock, retry: { attempts: 2, backoffMs: 10 }, onCloseError: () => {} });
    manager.new('e', { ttlMs: 5 }, () => Promise.reject(new Error('backend down')));
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => void (done = true));
    await flush();
    expect([manager.state('e'), manager.get('e')?.attempts, done]).toEqual(['expired', 1, false]); // retrying
    clock.increment(10);
    await flush();
    expect([done, manager.has('e'), manager.disposed]).toEqual([true, false, true]);
    await disposing;
  });

  it('the same with the entity as a live actor', async () => {
    const clock = new SimulatedClock();
    const manager = createExpireManager({ clock, retry: { attempts: 1 }, onCloseError: () => {} });
    manager.new('e', { ttlMs: 5 }, () => Promise.reject(new Error('backend down')), { retry: { attempts: 2, backoffMs: 10 } });
    const actor = manager.actorOf('e')!;
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => void (done = true));
    await flush();
    clock.increment(10);
    await flush();
    expect([done, manager.has('e'), actor.getSnapshot().value]).toEqual([true, false, 'deleted']);
    await disposing;
  });
});
