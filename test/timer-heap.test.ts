/**
 * The timer heap on its own: every timer of a manager in one binary heap behind
 * one timer of the clock below it, and the default clock built on it.
 */
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import fc from 'fast-check';
import { type ExpireClock, MAX_TIMER_DELAY } from '../src/index.js';
import { type HeapNode, TimerHeap, createTimerQueue } from '../src/manager/timer-heap.js';
import { flush, managerOnSimulatedClock } from './helpers.js';
import { NUM_RUNS, SEED, announce } from './properties/settings.js';

/**
 * A clock below the heap whose timers run only when the test says so, one
 * wake-up at a time: `pending` shows what the heap asked of it.
 */
function manualClock() {
  let now = 0;
  let nextId = 0;
  const pending = new Map<number, { fn: () => void; at: number }>();
  const delays: number[] = [];
  const clock: ExpireClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      delays.push(ms);
      pending.set(++nextId, { fn: fn as () => void, at: now + ms });
      return nextId;
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
  };
  /** Runs one due timer of the clock: one wake-up of the heap. Whether there was one. */
  const wake = (): boolean => {
    for (const [id, timer] of pending) {
      if (timer.at > now) continue;
      pending.delete(id);
      timer.fn();
      return true;
    }
    return false;
  };
  /** Moves the time forward to `time`, running every wake-up on the way at its own time. */
  const set = (time: number): void => {
    for (;;) {
      const next = Math.min(...[...pending.values()].map((t) => t.at));
      if (!(next <= time)) break;
      now = Math.max(now, next);
      wake();
    }
    now = time;
  };
  return { clock, pending, delays, wake, set, tick: (ms: number) => set(now + ms) };
}

/** A node of the heap's own kind (what an entity record is), logging its fires with the time. */
function node(name: string, log: string[], clock: ExpireClock, onFire?: () => void): HeapNode {
  return {
    key: 0,
    due: 0,
    seq: 0,
    order: 0,
    index: -1,
    fire() {
      log.push(`${name}@${clock.now()}`);
      onFire?.();
    },
  };
}

function heapOnManualClock() {
  const base = manualClock();
  const heap = new TimerHeap(base.clock);
  const log: string[] = [];
  const timer = (name: string, ms: number) => heap.setTimeout(() => log.push(`${name}@${heap.now()}`), ms);
  return { ...base, heap, log, timer };
}

describe('TimerHeap', () => {
  it('runs timers due at the same time in the order they were created', () => {
    const { heap, log, timer, set } = heapOnManualClock();
    const names = Array.from({ length: 20 }, (_, i) => `t${i}`);
    // Interleaved with later ones, so that the heap has to reorder.
    names.forEach((name, i) => {
      timer(name, 50);
      if (i % 3 === 0) timer(`late${i}`, 60);
    });
    set(50);
    expect(log).toEqual(names.map((name) => `${name}@50`));
    expect(heap.size).toBe(7);
  });

  it('runs each timer at its own time, not when an earlier one wakes the heap', () => {
    const { log, timer, set, pending } = heapOnManualClock();
    timer('b', 20);
    timer('a', 10);
    set(10);
    expect(log).toEqual(['a@10']);
    expect([...pending.values()].map((t) => t.at)).toEqual([20]);
    set(19);
    expect(log).toEqual(['a@10']);
    set(20);
    expect(log).toEqual(['a@10', 'b@20']);
    expect(pending.size).toBe(0);
  });

  it('cancels a timer at the head, in the middle and at the end, behind one clock timer', () => {
    const { heap, log, timer, set, pending } = heapOnManualClock();
    const handles = [10, 20, 30, 40, 50].map((ms) => timer(`t${ms}`, ms));
    heap.clearTimeout(handles[0]); // the head
    heap.clearTimeout(handles[2]); // the middle
    heap.clearTimeout(handles[4]); // the end
    expect(heap.size).toBe(2);
    expect(pending.size).toBe(1); // one clock timer, whatever the heap holds
    set(10);
    expect(log).toEqual([]);
    set(100);
    expect(log).toEqual(['t20@20', 't40@40']);
    heap.clearTimeout(handles[1]); // already fired: nothing happens
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0);
  });

  it('cancelling the last timer leaves the clock below with no timer', () => {
    const { heap, timer, pending } = heapOnManualClock();
    const handle = timer('only', 10);
    expect(pending.size).toBe(1);
    heap.clearTimeout(handle);
    expect(pending.size).toBe(0);
    expect(heap.size).toBe(0);
  });

  it('ignores a handle that is not one of its timers', () => {
    const { heap, log, clock, timer, set } = heapOnManualClock();
    const record = node('record', log, clock);
    heap.arm(record, 10);
    timer('t', 10);
    for (const handle of [undefined, null, 1, 'x', {}, record]) heap.clearTimeout(handle);
    set(10);
    expect(log).toEqual(['record@10', 't@10']);
  });

  it('re-arms a node after it fired, as often as it asks', () => {
    const { heap, log, clock, set } = heapOnManualClock();
    let fires = 0;
    const periodic = node('p', log, clock, () => {
      if (++fires < 3) heap.arm(periodic, clock.now() + 10);
    });
    heap.arm(periodic, 10);
    set(100);
    expect(log).toEqual(['p@10', 'p@20', 'p@30']);
    expect(heap.size).toBe(0);
  });

  it('a node that re-arms itself as already due runs again on the next wake-up, never in the same one', () => {
    const { heap, log, clock, wake, pending } = heapOnManualClock();
    let fires = 0;
    const eager = node('eager', log, clock, () => {
      if (++fires < 3) heap.arm(eager, clock.now());
    });
    const other = node('other', log, clock);
    heap.arm(eager, 0);
    heap.arm(other, 0);
    expect(wake()).toBe(true);
    expect(log).toEqual(['eager@0', 'other@0']);
    expect([...pending.values()].map((t) => t.at)).toEqual([0]); // one clock timer, due now
    expect(wake()).toBe(true);
    expect(log).toEqual(['eager@0', 'other@0', 'eager@0']);
    expect(wake()).toBe(true);
    expect(log).toEqual(['eager@0', 'other@0', 'eager@0', 'eager@0']);
    expect(wake()).toBe(false);
    expect(heap.size).toBe(0);
  });

  it('a node set aside for the next wake-up can still be removed or re-armed before it', () => {
    const { heap, log, clock, set } = heapOnManualClock();
    const removed = node('removed', log, clock);
    const moved = node('moved', log, clock);
    // Armed during the wake-up as already due (in the past), then changed by a later callback of it.
    const first = node('first', log, clock, () => {
      heap.arm(removed, -1);
      heap.arm(moved, -1);
    });
    const last = node('last', log, clock, () => {
      heap.remove(removed);
      heap.arm(moved, 5);
    });
    const bystanders = [node('x', log, clock), node('y', log, clock)];
    heap.arm(first, 0);
    heap.arm(last, 0);
    bystanders.forEach((n) => heap.arm(n, 100));
    set(0);
    expect(log).toEqual(['first@0', 'last@0']);
    expect(heap.size).toBe(3); // moved, and the two bystanders
    set(4);
    expect(log).toEqual(['first@0', 'last@0']);
    set(5);
    expect(log).toEqual(['first@0', 'last@0', 'moved@5']);
    expect(removed.index).toBe(-1); // out of the heap, set aside no more
    heap.arm(removed, 6); // removed, not lost: it can be armed again
    set(100);
    expect(log).toEqual(['first@0', 'last@0', 'moved@5', 'removed@6', 'x@100', 'y@100']);
  });

  it('moves a node armed to a later time when its old slot comes up, and fires it once, then', () => {
    const { heap, log, clock, set, delays } = heapOnManualClock();
    const later = node('later', log, clock);
    const earlier = node('earlier', log, clock);
    heap.arm(later, 10);
    heap.arm(later, 30);
    heap.arm(earlier, 40);
    heap.arm(earlier, 20);
    set(10);
    expect(log).toEqual([]);
    set(20);
    expect(log).toEqual(['earlier@20']);
    set(29);
    expect(log).toEqual(['earlier@20']);
    set(30);
    expect(log).toEqual(['earlier@20', 'later@30']);
    expect(heap.size).toBe(0);
    expect(delays.every((ms) => ms >= 0)).toBe(true);
  });

  it('a node armed again for the same time goes behind those armed since, as a new timer would', () => {
    const { heap, log, clock, set } = heapOnManualClock();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => node(name, log, clock));
    heap.arm(a!, 10);
    heap.arm(b!, 10);
    heap.arm(a!, 10);
    heap.arm(c!, 10);
    set(10);
    expect(log).toEqual(['b@10', 'a@10', 'c@10']);
  });

  it('a disarmed node never fires and leaves the heap when its slot comes up', () => {
    const { heap, log, clock, set } = heapOnManualClock();
    const disarmed = node('disarmed', log, clock);
    heap.arm(disarmed, 10);
    heap.disarm(disarmed);
    expect(heap.size).toBe(1);
    set(10);
    expect(log).toEqual([]);
    expect(heap.size).toBe(0);
    expect(disarmed.index).toBe(-1);
    heap.arm(disarmed, 20); // and can be armed again
    set(20);
    expect(log).toEqual(['disarmed@20']);
  });

  it('clamps the clock timer to 2^31−1 ms and re-arms until a far timer is due', () => {
    const { log, timer, set, delays } = heapOnManualClock();
    const far = 2 * MAX_TIMER_DELAY + 5;
    timer('far', far);
    expect(delays).toEqual([MAX_TIMER_DELAY]);
    set(MAX_TIMER_DELAY);
    expect(log).toEqual([]);
    expect(delays).toEqual([MAX_TIMER_DELAY, MAX_TIMER_DELAY]);
    set(2 * MAX_TIMER_DELAY);
    expect(delays).toEqual([MAX_TIMER_DELAY, MAX_TIMER_DELAY, 5]);
    set(far - 1);
    expect(log).toEqual([]);
    set(far);
    expect(log).toEqual([`far@${far}`]);
  });

  it('clear() drops every timer and the clock timer', () => {
    const { heap, log, clock, timer, set, pending } = heapOnManualClock();
    timer('a', 10);
    timer('b', 20);
    const armed = node('armed', log, clock);
    heap.arm(armed, 30);
    heap.clear();
    expect(armed.index).toBe(-1); // its documented 'not in the heap'
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0);
    set(100);
    expect(log).toEqual([]);
  });

  it('a negative delay is a delay of 0', () => {
    const { log, timer, set } = heapOnManualClock();
    set(10);
    timer('late', -5);
    timer('now', 0);
    set(10);
    expect(log).toEqual(['late@10', 'now@10']);
  });

  it('many random timers, some cancelled, fire in deadline order and creation order among equals, each at its time', () => {
    announce('timer heap', SEED, NUM_RUNS);
    fc.assert(
      fc.property(
        fc.array(fc.record({ ms: fc.integer({ min: 0, max: 40 }), cancel: fc.boolean(), at: fc.integer({ min: 0, max: 40 }) }), {
          maxLength: 60,
        }),
        (specs) => {
          const { heap, clock, set } = heapOnManualClock();
          const fired: Array<{ i: number; at: number }> = [];
          const handles = specs.map((spec, i) => ({ ...spec, i, handle: heap.setTimeout(() => fired.push({ i, at: clock.now() }), spec.ms) }));
          // Cancels happen at their own time, between wake-ups.
          const cancels = handles.filter((h) => h.cancel).sort((a, b) => a.at - b.at);
          for (const c of cancels) {
            set(Math.max(clock.now(), c.at));
            heap.clearTimeout(c.handle);
          }
          set(100);
          // Each fired timer fired at its own time, in (time, creation) order, and only once.
          expect(fired.every((f) => f.at === specs[f.i]!.ms)).toBe(true);
          const order = fired.map((f) => [specs[f.i]!.ms, f.i]);
          const sorted = [...order].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
          expect(order).toEqual(sorted);
          // What fired is exactly what was not cancelled before its time (a cancel at its time comes after it).
          const shouldFire = handles.filter((h) => !h.cancel || h.ms <= h.at).map((h) => h.i);
          expect(fired.map((f) => f.i).sort((a, b) => a - b)).toEqual(shouldFire);
          expect(heap.size).toBe(0);
        },
      ),
      // The suite's seed and runs, plus one case that needs the right parent
      // index in sift-up (shrunk from a failure of `parent = index >> 1`):
      // random cases reach one only now and then (none in 100 runs of seeds 1 to 6).
      {
        seed: SEED,
        numRuns: NUM_RUNS,
        examples: [[[0, 0, 1, 0, 1, 1, 0, 0, 0, 0].map((ms) => ({ ms, cancel: false, at: 0 }))]],
      },
    );
  });
});

describe('keeping the turn of a materialized entity', () => {
  it('an entity made a live actor keeps its turn among entities with the same deadline', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    for (const id of ['a', 'b', 'c']) manager.new(id, 100, close(id));
    manager.actorOf('a'); // its deadline moves to a timer of its actor, armed after b's and c's
    manager.actorOf('b');
    clock.increment(100);
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['a', 'b', 'c']);
  });

  it('keepTurn ignores a handle that is not a pending timer of the heap', () => {
    const { heap, log, clock, timer, set } = heapOnManualClock();
    const record = node('record', log, clock);
    heap.arm(record, 10);
    const fired = timer('fired', 5);
    set(5);
    for (const handle of [undefined, 7, record, fired]) heap.keepTurn(handle, record);
    set(10);
    expect(log).toEqual(['fired@5', 'record@10']);
  });
});

describe('the default clock (createTimerQueue)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  /** Node's timers, faked: each handle shows whether it keeps the process alive (`hasRef`). */
  function fakeNodeTimers() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    const immediates = vi.spyOn(globalThis, 'setImmediate');
    const handles = () => [
      ...timeouts.mock.results.map((r, i) => ({ kind: 'timeout', ms: timeouts.mock.calls[i]![1], ref: (r.value as NodeJS.Timeout).hasRef() })),
      ...immediates.mock.results.map((r) => ({ kind: 'immediate', ref: (r.value as NodeJS.Immediate).hasRef() })),
    ];
    return { handles };
  }

  it('waits for a future timer on one unref’d native timer, which never keeps the process alive', () => {
    const { handles } = fakeNodeTimers();
    let now = 1_000;
    const queue = createTimerQueue(() => now);
    const fired: number[] = [];
    queue.setTimeout(() => fired.push(now), 5_000);
    queue.setTimeout(() => fired.push(now), 7_000);
    expect(handles()).toEqual([{ kind: 'timeout', ms: 5_000, ref: false }]);
    now += 5_000;
    vi.advanceTimersByTime(5_000);
    expect(fired).toEqual([6_000]);
    now += 2_000;
    vi.advanceTimersByTime(2_000);
    expect(fired).toEqual([6_000, 8_000]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('continues an already-due wake-up on a ref’d immediate, so that it runs right after I/O', () => {
    const { handles } = fakeNodeTimers();
    const queue = createTimerQueue(() => 0);
    const fired: string[] = [];
    queue.setTimeout(() => fired.push('due'), 0);
    expect(handles()).toEqual([{ kind: 'immediate', ref: true }]);
    expect(fired).toEqual([]); // never inside setTimeout itself
    vi.runOnlyPendingTimers();
    expect(fired).toEqual(['due']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves no native timer behind when its last timer is cleared, due or not', () => {
    fakeNodeTimers();
    const queue = createTimerQueue(() => 0);
    const fired: string[] = [];
    const future = queue.setTimeout(() => fired.push('future'), 1_000);
    expect(vi.getTimerCount()).toBe(1);
    queue.clearTimeout(future);
    expect(vi.getTimerCount()).toBe(0);
    const due = queue.setTimeout(() => fired.push('due'), 0);
    expect(vi.getTimerCount()).toBe(1);
    queue.clearTimeout(due);
    expect(vi.getTimerCount()).toBe(0);
    vi.runAllTimers();
    expect(fired).toEqual([]);
  });

  it('yields to the event loop once a wake-up has run due timers for 1 ms, and goes on at once after', () => {
    const { handles } = fakeNodeTimers();
    const queue = createTimerQueue(() => 0);
    const fired: number[] = [];
    // The slice is measured with performance.now(): a callback 'runs for' what it adds.
    let elapsed = 1_000;
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => elapsed);
    onTestFinished(() => spy.mockRestore());
    const busy = (ms: number) => void (elapsed += ms);
    // Quick ones share a wake-up.
    queue.setTimeout(() => fired.push(-2), 0);
    queue.setTimeout(() => fired.push(-1), 0);
    vi.advanceTimersToNextTimer();
    expect(fired).toEqual([-2, -1]);
    fired.length = 0;
    for (const i of [0, 1, 2]) queue.setTimeout(() => (fired.push(i), busy(2)), 0);
    vi.advanceTimersToNextTimer();
    expect(fired).toEqual([0]);
    vi.advanceTimersToNextTimer();
    expect(fired).toEqual([0, 1]);
    vi.advanceTimersToNextTimer();
    expect(fired).toEqual([0, 1, 2]);
    // Every continuation was an immediate that kept the process alive.
    expect(handles()).toEqual([1, 2, 3, 4].map(() => ({ kind: 'immediate', ref: true })));
  });

  it('reads Date.now() by default', () => {
    vi.useFakeTimers({ now: 5_000, toFake: ['Date'] });
    expect(createTimerQueue().now()).toBe(5_000);
  });
});
