import type { DurableEngine, Step } from './engine.js';
import type { CloseRunner } from './close-runner.js';
import { CLAIM_LOST } from './reasons.js';

/** What the heartbeat asks of the manager it beats for. */
export interface HeartbeatHost {
  readonly engine: DurableEngine;
  readonly closes: CloseRunner;
  /** A transaction, then what it asked for once committed (the manager's `#call`). */
  call<T>(work: (step: Step) => Promise<T>): Promise<T>;
  /** Reports a failure of the manager's own work. */
  fail(what: string, error: unknown): void;
}

const START = { type: 'start' } as const;

/**
 * What keeps this process's holdings alive in the database while it lives:
 * every third of the shorter timeout, the claims of the closes running here
 * (a close whose claim was taken over sees its signal abort with
 * {@link CLAIM_LOST}) and the timeouts of the pauses it holds. A process that
 * dies stops beating: its claims run out (`reclaim`) and so do its pauses
 * (`pauseTimeout`), each a transition of the statechart.
 */
export class Heartbeat {
  /** The pauses this process holds (`id#generation`), kept until their entity is no longer live at that generation. */
  readonly #pauses = new Set<string>();
  readonly #host: HeartbeatHost;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;

  constructor(host: HeartbeatHost) {
    this.#host = host;
  }

  /** Beats every `intervalMs`, on an unref'd timer. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.beat(), intervalMs);
    // Stryker disable next-line OptionalChaining: Node's timers always have unref(); the ?. is for runtimes whose timers are numbers
    this.#timer.unref?.();
  }

  /** Stops beating; resolves once the beat under way has ended. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
  }

  /** Pauses this process took, once their transaction has committed (a pause whose reply was lost is not renewed: it runs out). */
  hold(keys: readonly string[]): void {
    for (const key of keys) this.#pauses.add(key);
  }

  /** One beat: renews the claims and the pauses held here, and forgets the pauses whose entity has moved on. */
  beat(): Promise<void> {
    const { engine, closes } = this.#host;
    this.#beating ??= (async () => {
      try {
        const lost = await engine.renewClaims(closes.keys());
        for (const key of lost) closes.abort(key, CLAIM_LOST);
        const gone = await engine.renewPauses([...this.#pauses]);
        for (const key of gone) this.#pauses.delete(key);
      } catch (error) {
        this.#host.fail('heartbeat', error);
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  /** Lets go of the pauses this process holds: one no other live process holds resumes its saved deadline now. */
  async releasePauses(): Promise<void> {
    const { engine } = this.#host;
    for (const key of [...this.#pauses]) {
      const at = key.lastIndexOf('#');
      try {
        await this.#host.call(async (step) => {
          const draft = await engine.byKey(step, key.slice(0, at), Number(key.slice(at + 1)));
          if (!draft?.live) return;
          // Stryker disable next-line ConditionalExpression,LogicalOperator: a row that left paused has no holders (the engine clears them)
          if (draft.state !== 'paused' || !draft.holders.includes(engine.owner)) return;
          if (!engine.releasePause(draft)) await engine.send(step, draft, START);
          await engine.write(step, draft);
        });
        this.#pauses.delete(key);
      } catch (error) {
        // Unreleased, it still ends when its timeout comes.
        this.#host.fail('release', error);
      }
    }
  }
}
