/**
 * A worker process for test/durable/processes.test.ts: one DurableExpireManager
 * on a real PostgreSQL server, driven by its parent over IPC
 * (bundled by test/support/bundle.ts, run on `node`).
 *
 * Its closer, `lease`, logs every invocation into `<schema>.closes` of the same
 * database, with database time (`clock_timestamp()`), what it saw of its own
 * row, and its process id: the parent proves its claims from that table, not
 * from what the worker says. Each invocation logs under a token of its own, so
 * retried writes (while the server is down) never log it twice.
 *
 * Messages in: `{ seq, op, ... }` — open, new, create, race, release, dispose.
 * Messages out: `{ type: 'ready' }`, `{ type: 'reply', seq, ok, value | error }`,
 * and events `{ type: 'event', event, ... }` (closing, created).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { random } from './chaos/random.js';
import {
  type ClosingEntity,
  type DurableStore,
  type DurableExpireManager,
  type DurableExpireProtocol,
  createDurableExpireManager,
  createDurableExpireProtocol,
  postgresStore,
} from '../../src/durable/index.js';

/** How the closer behaves in this worker. */
export interface CloserBehavior {
  /** Random duration of a close, in ms: [min, max]. Default [0, 0]. */
  holdMs?: [number, number];
  /** Wait for a `release` message for this id (or forever) before finishing. */
  block?: boolean;
  /** Probability that the closer throws after logging its start. */
  failRate?: number;
}

/** What `open` takes. */
export interface OpenConfig {
  connectionString: string;
  schema: string;
  namespace: string;
  claimTimeoutMs: number;
  pauseTimeoutMs: number;
  pollIntervalMs: number;
  concurrency?: number;
  closer?: CloserBehavior;
  /**
   * Transactions whose COMMIT succeeds but whose reply is lost (the call
   * throws, as when the connection drops right after COMMIT): the first one
   * that claims a close (`claim`, it writes `expired.closing`) or pauses an
   * entity (`stop`, it writes `paused`).
   */
  loseCommitReply?: Array<'claim' | 'stop'>;
  /**
   * Freezes the whole process (its event loop blocked, as by a long GC pause,
   * a busy loop or a frozen VM) for this many ms inside the first transaction
   * that claims a close, before its COMMIT: its row locks stay held.
   */
  freezeInClaimMs?: number;
}

/** What `race` takes: random protocol calls on shared ids for `durationMs`; each loop ends with a 1 s renewal. */
export interface RaceConfig {
  ids: string[];
  durationMs: number;
  seed: number;
  /** Concurrent call loops in this process. */
  loops: number;
  /** Calls each loop makes at least, past durationMs if need be. */
  minOps: number;
}

type Message = { seq: number; op: string; [key: string]: unknown };

const send = (message: object): void => {
  process.send?.(message);
};

let manager: DurableExpireManager | undefined;
/** Resolves with the manager once `createDurableExpireManager` returned: its first pass may close before. */
let opened: Promise<DurableExpireManager> = new Promise(() => {});
let protocol: DurableExpireProtocol | undefined;
let log: pg.Pool | undefined;
let config: OpenConfig | undefined;
const releases = new Map<string, () => void>();
const released = new Set<string>();
/** Errors reported by the store (outage), and close errors; counted, not printed. */
const reported = { store: 0, close: 0 };

/** Runs a statement of the closer's log until it succeeds (the server may be restarting). */
async function logged(sql: string, params: unknown[]): Promise<pg.QueryResultRow[]> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return (await log!.query(sql, params)).rows;
    } catch (error) {
      if (Date.now() > until) throw error;
      await sleep(50);
    }
  }
}

const NOW = `(extract(epoch from clock_timestamp()) * 1000)::float8`;

/** The closer: logs its start with what it saw of its row, holds, then logs its end. */
async function closer(entity: ClosingEntity, _signal: AbortSignal): Promise<void> {
  const behavior = config!.closer ?? {};
  const s = config!.schema;
  const token = randomUUID();
  const { owner } = await opened;
  await logged(
    `INSERT INTO ${s}.closes (token, kind, id, generation, pid, owner, deadline, started, row_state, row_live, row_owner)
     SELECT $1, 'closer', $2, $3, $4, $5, $6, ${NOW}, e.state, e.live, e.owner
       FROM (SELECT 1) AS one
       LEFT JOIN ${s}.entities e ON e.namespace = $7 AND e.id = $2 AND e.generation = $3
     ON CONFLICT (token) DO NOTHING`,
    [token, entity.id, entity.generation, process.pid, owner, entity.deadline, config!.namespace],
  );
  send({ type: 'event', event: 'closing', id: entity.id, generation: entity.generation });
  if (behavior.block) {
    if (!released.has(entity.id)) await new Promise<void>((resolve) => releases.set(entity.id, resolve));
  }
  const [min, max] = behavior.holdMs ?? [0, 0];
  if (max > 0) await sleep(min + Math.random() * (max - min));
  const failed = Math.random() < (behavior.failRate ?? 0);
  await logged(`UPDATE ${s}.closes SET finished = ${NOW}, failed = $2 WHERE token = $1`, [token, failed]);
  if (failed) throw new Error(`injected close failure of ${entity.id}`);
}

/** The TTL of the renewal each race loop ends with. */
const FINAL_TTL_MS = 1_000;

/** Random protocol calls with injected failures; resolves with how many of each ran. */
async function race({ ids, durationMs, minOps, seed, loops }: RaceConfig): Promise<Record<string, number>> {
  const rnd = random(seed);
  const s = config!.schema;
  const stats: Record<string, number> = {};
  const count = (what: string) => void (stats[what] = (stats[what] ?? 0) + 1);
  const until = Date.now() + durationMs;
  const pick = () => ids[Math.floor(rnd() * ids.length)]!;
  const pause = (max: number) => sleep(Math.floor(rnd() * max));
  const loop = async () => {
    // For durationMs, and at least minOps calls however slow the machine is.
    for (let ops = 0; Date.now() < until || ops < minOps; ops++) {
      const id = pick();
      const roll = rnd();
      try {
        if (roll < 0.45) {
          const failure = rnd();
          const ttlMs = 30 + Math.floor(rnd() * 400);
          await protocol!.update(id, async () => {
            await pause(40);
            if (failure < 0.12) throw new Error('injected update failure');
            // A renewal the manager refuses (a NaN deadline): R2, the live one is force-expired.
            if (failure < 0.17) return { value: 'bad', expiresAt: Number.NaN, closer: 'lease', data: { bad: true } };
            return { value: 'ok', expiresAt: { ttlMs }, closer: 'lease', data: { by: process.pid } };
          });
          count('update');
        } else if (roll < 0.6) {
          const failure = rnd();
          const closed = await protocol!.close(id, async () => {
            // What the explicit close saw of the live row: it should be paused.
            await logged(
              `INSERT INTO ${s}.closes (token, kind, id, generation, pid, owner, started, finished, row_state, row_live, row_owner)
               SELECT $1, 'user', $2, e.generation, $3, $4, ${NOW}, ${NOW}, e.state, e.live, e.owner
                 FROM (SELECT 1) AS one
                 LEFT JOIN ${s}.entities e ON e.namespace = $5 AND e.id = $2 AND e.live`,
              [randomUUID(), id, process.pid, manager!.owner, config!.namespace],
            );
            await pause(30);
            if (failure < 0.2) throw new Error('injected close failure');
          });
          count(closed ? 'close' : 'close:none');
        } else if (roll < 0.75) {
          count((await protocol!.fail(id)) ? 'fail' : 'fail:none');
        } else if (roll < 0.85) {
          // A bare expire: only a paused entity (maybe paused by another process) expires.
          await manager!.expire(id);
          count('expire');
        } else {
          await pause(30);
          count('idle');
        }
      } catch (error) {
        const message = (error as Error).message;
        if (/injected|renewal\.expiresAt/.test(message)) count('injected');
        else throw error;
      }
    }
    // Every loop ends with a longer renewal, so that entities are live when the race ends.
    await protocol!.update(pick(), () => ({ value: 'ok', expiresAt: { ttlMs: FINAL_TTL_MS }, closer: 'lease', data: { final: true } }));
    count('final');
  };
  await Promise.all(Array.from({ length: loops }, loop));
  return stats;
}

/** Creates `ids` one after another, each acknowledged (an event) once `new` resolved. */
async function create(ids: string[], ttlMs: number[], gapMs: number, stop: { stopped: boolean }): Promise<number> {
  let created = 0;
  for (let i = 0; i < ids.length && !stop.stopped; i++) {
    try {
      await manager!.new(ids[i]!, { ttlMs: ttlMs[i % ttlMs.length]! }, { closer: 'lease', data: { i } });
      created++;
      send({ type: 'event', event: 'created', id: ids[i] });
    } catch (error) {
      send({ type: 'event', event: 'create-failed', id: ids[i], error: String(error) });
      await sleep(20);
    }
    if (gapMs > 0) await sleep(gapMs);
  }
  return created;
}

let creating = { stopped: false };

/**
 * `store`, but the COMMIT reply of the first claim / pause is lost (see
 * {@link OpenConfig.loseCommitReply}), and the process freezes in the first
 * claim for `freezeMs` (see {@link OpenConfig.freezeInClaimMs}).
 */
function faulty(store: DurableStore, kinds: ReadonlyArray<'claim' | 'stop'>, freezeMs: number): DurableStore {
  const pending = new Set(kinds);
  let freeze = freezeMs;
  return {
    ...store,
    transaction: async (work) => {
      let lost: 'claim' | 'stop' | undefined;
      let claims = false;
      const result = await store.transaction(async (query) => {
        const value = await work(async (sql, params) => {
          // The engine writes a row as (namespace, id, generation, state, ...).
          const state = /^\s*(UPDATE|INSERT)\s+\S+\.entities/i.test(sql) ? params?.[3] : undefined;
          if (state === 'expired.closing') claims = true;
          if (state === 'expired.closing' && pending.has('claim')) lost = 'claim';
          if (state === 'paused' && pending.has('stop')) lost = 'stop';
          return query(sql, params);
        });
        if (claims && freeze > 0) {
          send({ type: 'event', event: 'freezing', ms: freeze });
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, freeze);
          freeze = 0;
        }
        return value;
      });
      if (lost === undefined) return result;
      pending.delete(lost);
      send({ type: 'event', event: 'lost-reply', kind: lost });
      throw new Error(`the connection dropped after COMMIT (${lost})`);
    },
  };
}

async function handle(message: Message): Promise<unknown> {
  switch (message.op) {
    case 'open': {
      config = message.config as OpenConfig;
      released.clear();
      let resolveOpened!: (value: DurableExpireManager) => void;
      opened = new Promise((resolve) => (resolveOpened = resolve));
      log = new pg.Pool({ connectionString: config.connectionString, max: 4 });
      log.on('error', () => {});
      manager = await createDurableExpireManager({
        store: faulty(
          postgresStore({
            connectionString: `${config.connectionString}?application_name=worker_${process.pid}`,
            schema: config.schema,
            onError: () => void reported.store++,
          }),
          config.loseCommitReply ?? [],
          config.freezeInClaimMs ?? 0,
        ),
        // One attempt: a failed close is reported and gone (Go), so each generation closes at most once.
        closers: { lease: { close: closer, retry: { attempts: 1 } } },
        namespace: config.namespace,
        claimTimeoutMs: config.claimTimeoutMs,
        pauseTimeoutMs: config.pauseTimeoutMs,
        pollIntervalMs: config.pollIntervalMs,
        ...(config.concurrency ? { concurrency: config.concurrency } : {}),
        onCloseError: (id, error) => {
          reported.close++;
          send({ type: 'event', event: 'close-error', id, error: String(error) });
        },
      });
      resolveOpened(manager);
      protocol = createDurableExpireProtocol(manager);
      const [row] = (await log.query(`SELECT ${NOW} AS now`)).rows;
      return { owner: manager.owner, pid: process.pid, skewMs: Date.now() - Number(row.now) };
    }
    case 'new': {
      const deadline = (message.ttlMs !== undefined ? { ttlMs: message.ttlMs } : message.deadline) as number | { ttlMs: number };
      await manager!.new(message.id as string, deadline, { closer: 'lease', data: message.data ?? null });
      return null;
    }
    case 'update':
      return protocol!.update(message.id as string, () => ({
        value: 'updated',
        expiresAt: { ttlMs: message.ttlMs as number },
        closer: 'lease',
      }));
    case 'create':
      creating = { stopped: false };
      return create(message.ids as string[], message.ttlMs as number[], (message.gapMs as number) ?? 0, creating);
    case 'stop-creating':
      creating.stopped = true;
      return null;
    case 'race':
      return race(message.config as RaceConfig);
    case 'release': {
      const id = message.id as string;
      released.add(id);
      releases.get(id)?.();
      return null;
    }
    case 'dispose': {
      await manager?.dispose();
      await log?.end();
      manager = undefined;
      protocol = undefined;
      log = undefined;
      return { ...reported };
    }
    default:
      throw new Error(`worker: unknown op ${message.op}`);
  }
}

process.on('message', (message: Message) => {
  handle(message).then(
    (value) => send({ type: 'reply', seq: message.seq, ok: true, value }),
    (error: Error) => send({ type: 'reply', seq: message.seq, ok: false, error: error?.stack ?? String(error) }),
  );
});
// The parent going away ends the worker.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', pid: process.pid });
