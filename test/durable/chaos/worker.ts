/**
 * A chaos worker process (bundled by test/support/bundle.ts, run on `node`): one
 * DurableExpireManager on the server under test, running the Go protocol
 * (update, close, fail, delete) on the ids of its slot until told to finish, and
 * writing everything it does into the ledger (a second server, see ledger.ts).
 *
 * Its closer `lease` logs its invocation, holds a while, then applies its effect,
 * idempotent on `(id, generation)`. Ids are routed to one slot each (the
 * protocol's advice: one process updates an id), so a pause on an id is held by
 * one process, and a close during it is the library's, not a rival updater's.
 *
 * It also records when its event loop was starved (lag.ts) and, through a
 * watched store, each of its heartbeats: the verdict's evidence that a lease lost
 * while the process lived was lost to a machine too loaded to run it.
 *
 * Messages in: `{ seq, op: 'open' | 'run' | 'finish' | 'reopen' | 'dispose' }`;
 * out: `{ type: 'ready' }` and `{ type: 'reply', seq, ok, value | error }`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  type ClosingEntity,
  type DurableExpireManager,
  type DurableStore,
  type DurableExpireProtocol,
  createDurableExpireManager,
  createDurableExpireProtocol,
  postgresStore,
} from '../../../src/durable/index.js';
import { watchLag } from './lag.js';
import { APPLY_EFFECT, NOW } from './ledger.js';
import { random } from './random.js';

/** What `open` takes. */
export interface ChaosWorkerConfig {
  /** The server under test. */
  connectionString: string;
  /** The ledger's database. */
  ledger: string;
  schema: string;
  namespace: string;
  slot: number;
  /** The ids this worker updates. */
  ids: string[];
  seed: number;
  claimTimeoutMs: number;
  pauseTimeoutMs: number;
  pollIntervalMs: number;
  /** Concurrent call loops. */
  loops: number;
  /** Renewal TTLs: [min, max] ms. */
  ttlMs: [number, number];
  /** How long a closer holds before its effect: [min, max] ms; one in ten holds 1–2 claim timeouts (its claim must be renewed). */
  closeMs: [number, number];
  /** How long an update's callback holds the pause: [min, max] ms; one in seven holds 1–2.5 pause timeouts. */
  updateMs: [number, number];
}

type Message = { seq: number; op: string; [key: string]: unknown };

let config: ChaosWorkerConfig;
let ledger: pg.Pool;
let manager: DurableExpireManager | undefined;
let protocol: DurableExpireProtocol | undefined;
let owner = '';
let rnd: () => number = Math.random;
let running: Promise<unknown> | undefined;
let finishing = false;
/** Between a manager's dispose() and the next one's open: a close starting then is a disposed manager's. */
let disposing = false;
const stats: Record<string, number> = {};
const count = (what: string, by = 1) => void (stats[what] = (stats[what] ?? 0) + by);

/** A ledger statement, retried on a connection error (the ledger server is never crashed, but may be slow). */
async function write(sql: string, params: unknown[]): Promise<pg.QueryResultRow[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await ledger.query(sql, params)).rows;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(50);
    }
  }
}

/** Lag intervals not yet in the ledger: written in batches, so that a starved loop does not queue a write per late tick. */
let lags: Array<[from: number, to: number]> = [];
async function flushLags(): Promise<void> {
  if (lags.length === 0) return;
  const batch = lags;
  lags = [];
  await write(`INSERT INTO lags (pid, from_at, to_at) SELECT $1, unnest($2::float8[]), unnest($3::float8[])`, [
    process.pid,
    batch.map(([from]) => from),
    batch.map(([, to]) => to),
  ]).catch(() => count('lag-write-error'));
}

/**
 * The store, watched: each heartbeat renewal of the claims or pauses held here goes to the
 * ledger (`beats`) with when it was sent, the database's now it renews from, and
 * when it committed, so a pause lost while its holder lived shows its holder's beats.
 */
function watched(store: DurableStore): DurableStore {
  return {
    kind: store.kind,
    schema: store.schema,
    acquire: () => store.acquire(),
    release: () => store.release(),
    query: (sql, params) => store.query(sql, params),
    listen: (channel, onNotify, onReconnect) => store.listen(channel, onNotify, onReconnect),
    transaction: async (work) => {
      let beat: { kind: string; sent: number; now: number; keys: string[] } | undefined;
      const log = (done: number | null, error: string | null) => {
        if (!beat) return;
        const { kind, sent, now, keys } = beat;
        write(`INSERT INTO beats (pid, kind, keys, sent_at, now_at, done_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
          process.pid,
          kind,
          keys,
          sent,
          now,
          done,
          error,
        ]).catch(() => count('beat-write-error'));
      };
      try {
        const result = await store.transaction((query) =>
          work((sql, params) => {
            // The heartbeat's two statements (src/durable/plans.ts): their parameters say which keys and which now.
            const kind = !params ? undefined : sql.includes('SET due = greatest(due') ? 'pauses' : sql.includes('SET lease_until = $3 + lease_ms') ? 'claims' : undefined;
            if (kind) {
              const at = kind === 'pauses' ? 4 : 3;
              const [ids, generations] = [params![at] as string[], params![at + 1] as string[]];
              beat = { kind, sent: Date.now(), now: Number(params![kind === 'pauses' ? 1 : 2]), keys: ids.map((id, i) => `${id}#${generations[i]}`) };
            }
            return query(sql, params);
          }),
        );
        log(Date.now(), null);
        return result;
      } catch (error) {
        log(null, String((error as Error)?.message ?? error).slice(0, 200));
        throw error;
      }
    },
  };
}

const now = async (): Promise<number> => Number((await write(`SELECT ${NOW} AS now`, []))[0]!.now);
const between = ([min, max]: [number, number]) => min + Math.floor(rnd() * (max - min + 1));

/**
 * The closer of the manager whose owner `self` resolves with (its first pass may
 * close before createDurableExpireManager returns): logs its invocation, holds,
 * applies its effect once per (id, generation), logs its end.
 */
async function closer(self: Promise<string>, entity: ClosingEntity, signal: AbortSignal): Promise<void> {
  const abortedAtEntry = signal.aborted;
  const disposingAtEntry = disposing;
  const token = randomUUID();
  const nonce = (entity.data as { nonce?: string } | null)?.nonce ?? null;
  const by = await self;
  await write(
    `INSERT INTO invocations (token, id, generation, nonce, deadline, pid, owner, started, aborted_at_entry, disposing_at_entry)
     VALUES ($1, $2, $3, $4, $5, $6, $7, ${NOW}, $8, $9)`,
    [token, entity.id, entity.generation, nonce, entity.deadline, process.pid, by, abortedAtEntry, disposingAtEntry],
  );
  const slow = rnd() < 0.1;
  await sleep(slow ? between([config.claimTimeoutMs, 2 * config.claimTimeoutMs]) : between(config.closeMs));
  if (entity.generation !== 0) {
    await write(APPLY_EFFECT, [token, entity.id, entity.generation, 'closer', nonce, entity.deadline, process.pid]);
  }
  await write(`UPDATE invocations SET finished = ${NOW}, aborted_at_end = $2 WHERE token = $1`, [token, signal.aborted]);
}

/**
 * One protocol call on `id`, logged with its phases; resolves with whether it was
 * an update that failed (the caller then retries it at once, as a client would).
 */
async function call(id: string, retry: boolean): Promise<boolean> {
  const roll = rnd();
  const kind = retry || roll < 0.6 ? 'update' : roll < 0.78 ? 'close' : roll < 0.9 ? 'fail' : 'delete';
  const failure = rnd();
  const nonce = kind === 'update' ? randomUUID() : null;
  const ttlMs = between(config.ttlMs);
  // A retry holds long more often: a pause taken again must be renewed as long as it is held.
  const holdMs = rnd() < (retry ? 0.5 : 1 / 7) ? between([config.pauseTimeoutMs, 2.5 * config.pauseTimeoutMs]) : between(config.updateMs);
  const [{ seq }] = (await write(
    `INSERT INTO ops (pid, owner, kind, id, nonce, begin_at) VALUES ($1, $2, $3, $4, $5, ${NOW}) RETURNING seq::float8 AS seq`,
    [process.pid, owner, kind, id, nonce],
  )) as [{ seq: number }];
  /** Inside a callback: the pause is ours; which generation, as the manager reads it. */
  const held = async () => {
    const entity = await manager!.get(id);
    await write(`UPDATE ops SET held_at = ${NOW}, held_generation = $2, held_state = $3 WHERE seq = $1`, [
      seq,
      entity?.generation ?? null,
      entity?.state ?? null,
    ]);
    return entity;
  };
  const release = () => write(`UPDATE ops SET release_at = ${NOW} WHERE seq = $1`, [seq]);
  let result: string;
  try {
    if (kind === 'update') {
      await protocol!.update(id, async () => {
        await held();
        await sleep(holdMs);
        await release();
        if (failure < 0.2) throw new Error('injected update failure');
        return { value: 'ok', expiresAt: { ttlMs }, closer: 'lease', data: { nonce, pid: process.pid } };
      });
      result = 'ok';
    } else if (kind === 'close') {
      const closed = await protocol!.close(id, async () => {
        const entity = await held();
        // A close that fails does so before its effect.
        if (failure < 0.15) {
          await release();
          throw new Error('injected close failure');
        }
        // Only a paused entity is ours to close: one already expired is the closer's (R4).
        if (entity?.state === 'paused') {
          const token = randomUUID();
          const entityNonce = (entity.data as { nonce?: string } | null)?.nonce ?? null;
          await write(APPLY_EFFECT, [token, id, entity.generation, 'user', entityNonce, entity.deadline, process.pid]);
        }
        await sleep(Math.floor(holdMs / 2));
        await release();
      });
      result = String(closed);
    } else if (kind === 'fail') {
      result = String(await protocol!.fail(id));
    } else {
      // Through the id's executor: serialized with this process's other calls on it.
      result = String(await protocol!.run(id, () => manager!.delete(id)));
    }
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    result = /injected/.test(message) ? 'injected' : `error: ${message.slice(0, 300)}`;
  }
  count(`${kind}:${result.startsWith('error') ? 'error' : result}`);
  await write(`UPDATE ops SET end_at = ${NOW}, result = $2 WHERE seq = $1`, [seq, result]);
  return kind === 'update' && result === 'injected';
}

/** The call loops, until `finish`. */
async function run(): Promise<void> {
  // Clients whose update died with the process before retry it here first: ids left paused by it.
  const live = await manager!.list().catch(() => []);
  const retries = live.filter((e) => e.state === 'paused' && config.ids.includes(e.id)).map((e) => e.id);
  count('updates retried from a dead process', retries.length);
  const loop = async () => {
    let retry: string | undefined = retries.pop();
    while (!finishing) {
      const id = retry ?? config.ids[Math.floor(rnd() * config.ids.length)]!;
      retry = (await call(id, retry !== undefined)) ? id : retries.pop();
      if (retry === undefined) await sleep(Math.floor(rnd() * 40));
    }
  };
  await Promise.all(Array.from({ length: config.loops }, loop));
}

async function open(): Promise<void> {
  let opened!: (owner: string) => void;
  const self = new Promise<string>((resolve) => (opened = resolve));
  manager = await createDurableExpireManager({
    store: watched(
      postgresStore({
        connectionString: `${config.connectionString}?application_name=chaos_${process.pid}`,
        schema: config.schema,
        // The server's crash: reported by the store, counted here.
        onError: () => count('store-error'),
      }),
    ),
    closers: { lease: (entity, signal) => closer(self, entity, signal) },
    namespace: config.namespace,
    claimTimeoutMs: config.claimTimeoutMs,
    pauseTimeoutMs: config.pauseTimeoutMs,
    pollIntervalMs: config.pollIntervalMs,
    onCloseError: () => count('close-error'),
  });
  owner = manager.owner;
  opened(owner);
  protocol = createDurableExpireProtocol(manager);
  await write(`INSERT INTO workers (pid, owner, slot, opened) VALUES ($1, $2, $3, ${NOW})`, [process.pid, owner, config.slot]);
}

/** A plain dispose() of the manager, logged as a call: when it began, and when it resolved. */
async function disposeManager(): Promise<void> {
  const [{ seq }] = (await write(
    `INSERT INTO ops (pid, owner, kind, id, begin_at) VALUES ($1, $2, 'dispose', '', ${NOW}) RETURNING seq::float8 AS seq`,
    [process.pid, owner],
  )) as [{ seq: number }];
  disposing = true;
  await manager!.dispose();
  disposing = false;
  await write(`UPDATE ops SET end_at = ${NOW}, result = 'ok' WHERE seq = $1`, [seq]);
}

async function handle(message: Message): Promise<unknown> {
  switch (message.op) {
    case 'open':
      config = message.config as ChaosWorkerConfig;
      rnd = random(config.seed);
      ledger = new pg.Pool({ connectionString: config.ledger, max: 4 });
      ledger.on('error', () => {});
      watchLag((from, to) => void lags.push([from, to]));
      setInterval(() => void flushLags(), 250).unref();
      // A manager opening while the server is down retries until it is back.
      for (let attempt = 0; ; attempt++) {
        try {
          await open();
          break;
        } catch (error) {
          if (attempt >= 100) throw error;
          await sleep(100);
        }
      }
      return { owner, pid: process.pid };
    case 'run':
      finishing = false;
      running = run();
      running.catch(() => {});
      return null;
    case 'finish':
      finishing = true;
      await running;
      return { ...stats };
    case 'reopen': {
      // A graceful restart of the manager in this process: calls end, dispose(), a new manager.
      finishing = true;
      await running;
      await disposeManager();
      await open();
      finishing = false;
      running = run();
      running.catch(() => {});
      return { owner };
    }
    case 'dispose':
      finishing = true;
      await running;
      if (manager) await disposeManager();
      // Closes a disposed manager started late still log.
      await sleep(2 * config.closeMs[1]);
      await flushLags();
      await ledger?.end();
      return { ...stats };
    default:
      throw new Error(`chaos worker: unknown op ${message.op}`);
  }
}

/** Messages are handled one after another: a reopen never overtakes the run before it. */
let queue: Promise<unknown> = Promise.resolve();
process.on('message', (message: Message) => {
  const handled = queue.then(() => handle(message));
  queue = handled.catch(() => {});
  handled.then(
    (value) => process.send?.({ type: 'reply', seq: message.seq, ok: true, value }),
    (error: Error) => process.send?.({ type: 'reply', seq: message.seq, ok: false, error: error?.stack ?? String(error) }),
  );
});
// The parent going away ends the worker.
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', pid: process.pid });
