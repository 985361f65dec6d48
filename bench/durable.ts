/**
 * `npm run bench:durable`: the figures of the durable performance issue (#19).
 * xstate-expire's durable manager (xstate-expire/durable) beside pg-boss and
 * beside a raw single-row commit loop from one client (the baseline), all on
 * one real PostgreSQL server that this script starts (fsync on) and stops;
 * the durable manager also on PGlite (embedded, in this process), and
 * PGlite's first open of a new folder in fresh child processes. Every figure
 * is the median of 3 runs, the subjects taking turns run by run; ratios are
 * against the raw loop and pg-boss measured in the same run, and each row
 * says whether its target is met. Figures the API cannot produce yet print
 * "not implemented".
 * `npm run bench:durable -- --write` also rewrites the durable region of
 * docs/benchmarks.md (and nothing else of it). `--quick` runs smaller sizes
 * (a smoke test, not for the docs); `--live=N` sets the big live-row count
 * (default 1M).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import PgBoss from 'pg-boss';
import {
  type DurableExpireManager,
  type DurableStore,
  createDurableExpireManager,
  pgliteStore,
  postgresStore,
} from '../src/durable/index.js';
import { startPostgres } from '../test/support/postgres.js';
import { closer, stopCloser } from './closing-processes.js';
import { type Deadlines, cloneRows, deadlineOf } from './durable-rows.js';
import { type FirstOpen, firstOpen } from './pglite-first-open.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
if (write && quick) throw new Error('--write takes the full sizes: drop --quick');
const RUNS = 3;
/** Creates per run for new/s (sequential, then IN_FLIGHT at once). */
const NEW_N = quick ? 300 : 500;
const IN_FLIGHT = 8;
/** Live entities, each paused and resumed once per run. */
const CYCLE_N = quick ? 200 : 300;
/** Entities due at the same instant; closing processes in the second closes row. */
const CLOSE_N = quick ? 1_000 : 10_000;
const CLOSE_PROCESSES = 3;
/** Single-row commits per run of the raw loop. */
const RAW_N = quick ? 200 : 500;
/** Live rows: the small and the big set the call latencies are compared at; calls sampled per op and run. */
const LIVE_SMALL = 10_000;
const LIVE_BIG = Number(process.argv.find((a) => a.startsWith('--live='))?.slice('--live='.length) ?? (quick ? 50_000 : 1_000_000));
const LATENCY_N = quick ? 100 : 300;
/** Creates per `newMany` batch, and batches per run. */
const BULK_BATCH = 1_000;
const BULK_N = quick ? 5_000 : 20_000;
/** Entities whose deadlines are spread evenly over SPREAD_MS. */
const LATE_N = quick ? 400 : 2_000;
const SPREAD_MS = 5_000;
/** pg-boss's worker: one `work()` fetching up to BOSS_BATCH due jobs per poll, every 0.5 s (its minimum). */
const BOSS_BATCH = 1_000;
const BOSS_POLL_S = 0.5;
/** A run that has not seen every close by then is a failure, not a figure. */
const CLOSE_TIMEOUT_MS = 180_000;
/** PGlite first opens, each in a fresh process. */
const OPEN_RUNS = 3;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench:durable does)');

type Name = 'pg-boss' | 'postgres' | 'pglite';
const names: Name[] = ['pg-boss', 'postgres', 'pglite'];

/** Called when an entity's close (or a job's handler) runs: its index and deadline. */
type OnClose = (i: number, deadline: number) => void;

/** One run's namespace (xstate-expire) or queue (pg-boss), fresh each run. */
interface Run {
  /** `new(id, deadline)` / `send(queue, data, { startAfter })`: resolves once committed. */
  create(i: number, deadline: number): Promise<void>;
  /** Not timed: entities 0…n-1 with these deadlines, the fastest way each offers. */
  setup(n: number, deadlines: Deadlines): Promise<void>;
  /** `stop(id)` / `cancel(queue, jobId)`. */
  pause(i: number): Promise<void>;
  /** `start(id)` / `resume(queue, jobId)`. */
  resume(i: number): Promise<void>;
  /** Stops the manager or worker and drops what the run left behind. */
  end(): Promise<void>;
}
type Open = (onClose?: OnClose) => Promise<Run>;

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const far = () => Date.now() + 3_600_000;
let sequence = 0;

/** Runs `fn(0…n-1)` with `k` calls in flight at once. */
async function inFlight(n: number, k: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, k) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

// ---- the server, the stores, pg-boss -------------------------------------------------------

console.log('starting PostgreSQL (fsync on) and PGlite…');
const server = await startPostgres({ fsync: true });
const pgliteDir = mkdtempSync(join(tmpdir(), 'xstate-expire-bench-pglite-'));
const stores: Record<'postgres' | 'pglite', DurableStore> = {
  postgres: postgresStore({ connectionString: server.connectionString }),
  // Its template cache in the bench's temp folder: the first-open figure below makes its own.
  pglite: pgliteStore({ dataDir: join(pgliteDir, 'data'), templateCache: join(pgliteDir, 'cache') }),
};
// Held for the whole bench: the stores stay open between managers, and clean up after them.
await stores.postgres.acquire();
await stores.pglite.acquire();
const sql = stores.postgres.query;
const serverVersion = String((await sql('SHOW server_version'))[0]?.server_version).split(' ')[0];

/**
 * Setup (never timed) runs with `synchronous_commit = off` on the server, to
 * spare minutes of fsyncs: every timed phase runs with the default (on). A
 * reload reaches every session before its next statement.
 */
async function syncCommit(on: boolean): Promise<void> {
  await sql(on ? 'ALTER SYSTEM RESET synchronous_commit' : 'ALTER SYSTEM SET synchronous_commit = off');
  await sql('SELECT pg_reload_conf()');
  await sleep(250);
}

/** The baseline: RAW_N single-row autocommit INSERTs, each awaited, from one client of its own: what the disk allows. */
async function rawRate(): Promise<number> {
  const client = new pg.Client({ connectionString: server.connectionString });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS bench_commit (n integer)');
    const t = performance.now();
    for (let i = 0; i < RAW_N; i++) await client.query('INSERT INTO bench_commit VALUES ($1)', [i]);
    const rate = RAW_N / ((performance.now() - t) / 1000);
    await client.query('TRUNCATE bench_commit');
    return rate;
  } finally {
    await client.end();
  }
}

const boss = new PgBoss({
  connectionString: server.connectionString,
  max: 10, // postgresStore's default pool size
  schedule: false, // no cron here: no timekeeper polling beside the worker
});
boss.on('error', (error) => console.error('pg-boss:', error));
await boss.start();
const bossVersion = (
  JSON.parse(readFileSync(new URL('../node_modules/pg-boss/package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A manager with its defaults on `store`, in `namespace`, whose closer calls `onClose`. */
const managerOn = (store: DurableStore, namespace: string, onClose?: OnClose) =>
  createDurableExpireManager({
    store,
    namespace,
    closers: { bench: ({ data, deadline }) => void ((data as number) >= 0 && onClose?.(data as number, deadline)) },
  });

/** xstate-expire's durable manager on `store`, default options, in a namespace of its own. */
const durable =
  (store: DurableStore): Open =>
  async (onClose) => {
    const namespace = `bench_${++sequence}`;
    const manager: DurableExpireManager = await managerOn(store, namespace, onClose);
    const id = (i: number) => `e-${i}`;
    const create = (i: number, deadline: number) => manager.new(id(i), deadline, { closer: 'bench', data: i });
    return {
      create,
      setup: async (n, deadlines) => {
        await manager.new('seed', far(), { closer: 'bench', data: -1 });
        await cloneRows(store, namespace, 'seed', 'e-', n, deadlines);
      },
      pause: async (i) => {
        if (!(await manager.stop(id(i)))) throw new Error(`stop(${id(i)}): no expiration`);
      },
      resume: (i) => manager.start(id(i)),
      end: async () => {
        await manager.dispose();
        await store.query(`DELETE FROM ${store.schema}.entities WHERE namespace = $1`, [namespace]);
      },
    };
  };

/** pg-boss: one queue per run; with `onClose`, one worker (`work()`, batchSize BOSS_BATCH, polling 0.5 s). */
const pgBoss: Open = async (onClose) => {
  const queue = `bench_${++sequence}`;
  await boss.createQueue(queue);
  const jobs: string[] = [];
  if (onClose) {
    await boss.work<{ i: number; deadline: number }>(
      queue,
      { batchSize: BOSS_BATCH, pollingIntervalSeconds: BOSS_POLL_S },
      async (batch) => {
        for (const job of batch) onClose(job.data.i, job.data.deadline);
      },
    );
  }
  // Typed void in 10.x; at run time { jobs, requested, affected }.
  const one = (what: string, result: unknown) => {
    const { affected } = result as { affected?: number };
    if (affected !== 1) throw new Error(`pg-boss ${what}: ${affected} jobs changed`);
  };
  return {
    create: async (i, deadline) => {
      const id = await boss.send(queue, { i, deadline }, { startAfter: new Date(deadline) });
      if (id === null) throw new Error('pg-boss send: no job');
      jobs[i] = id;
    },
    // Bulk insert, with ids of ours (insert() returns none).
    setup: async (n, deadlines) => {
      for (let from = 0; from < n; from += 1_000) {
        const chunk = Array.from({ length: Math.min(1_000, n - from) }, (_, j) => {
          const i = from + j;
          const deadline = deadlineOf(deadlines, i, n);
          jobs[i] = randomUUID();
          return { id: jobs[i], name: queue, data: { i, deadline }, startAfter: new Date(deadline) };
        });
        await boss.insert(chunk);
      }
    },
    pause: async (i) => one('cancel', await boss.cancel(queue, jobs[i]!)),
    resume: async (i) => one('resume', await boss.resume(queue, jobs[i]!)),
    end: async () => {
      if (onClose) {
        // The worker completes a batch without awaiting it: let the last completions land.
        for (let t = 0; t < 100 && (await boss.getQueueSize(queue, { before: 'completed' })) > 0; t++) await sleep(50);
        await boss.offWork(queue);
      }
      // deleteQueue refuses while the queue's partition holds jobs (completed, cancelled…).
      await sql('DELETE FROM pgboss.job WHERE name = $1', [queue]);
      await boss.deleteQueue(queue);
    },
  };
};

const subjects: Record<Name, Open> = {
  'pg-boss': pgBoss,
  postgres: durable(stores.postgres),
  pglite: durable(stores.pglite),
};

/** The last setup's rate (per second), per subject: sizes the head start of the next. */
const setupRate: Partial<Record<Name, number>> = {};

/** Setup under `synchronous_commit = off` (see syncCommit); resolves with how long it took. */
async function setup(name: Name, run: () => Promise<void>, n: number): Promise<number> {
  await syncCommit(false);
  try {
    const t = performance.now();
    await run();
    const took = performance.now() - t;
    setupRate[name] = n / (took / 1000);
    return took;
  } finally {
    await syncCommit(true);
  }
}

// ---- the measures: one run each ------------------------------------------------------------

/** Creates per second: NEW_N creates with `k` in flight (1: each awaited before the next). */
async function newRate(name: Name, k: number): Promise<number> {
  const subject = await subjects[name]();
  const deadline = far();
  const t = performance.now();
  await inFlight(NEW_N, k, (i) => subject.create(i, deadline + i));
  const rate = NEW_N / ((performance.now() - t) / 1000);
  await subject.end();
  return rate;
}

/** Pause-and-resume cycles per second, each call awaited, with CYCLE_N live. */
async function cycleRate(name: Name): Promise<number> {
  const subject = await subjects[name]();
  await setup(name, () => subject.setup(CYCLE_N, { base: far(), spread: CYCLE_N }), CYCLE_N);
  const t = performance.now();
  for (let i = 0; i < CYCLE_N; i++) {
    await subject.pause(i);
    await subject.resume(i);
  }
  const rate = CYCLE_N / ((performance.now() - t) / 1000);
  await subject.end();
  return rate;
}

/** `newMany` per second, BULK_BATCH a call, when the manager has it: undefined (not implemented) otherwise. */
async function bulkRate(): Promise<number | undefined> {
  const namespace = `bench_${++sequence}`;
  const manager = await managerOn(stores.postgres, namespace);
  try {
    const newMany = (manager as unknown as Record<string, unknown>)['newMany'];
    if (typeof newMany !== 'function') return undefined;
    const deadline = far();
    const t = performance.now();
    for (let from = 0; from < BULK_N; from += BULK_BATCH) {
      const batch = Array.from({ length: BULK_BATCH }, (_, j) => ({ id: `e-${from + j}`, deadline: deadline + j, closer: 'bench', data: from + j }));
      await (newMany as (entities: unknown[]) => Promise<unknown>).call(manager, batch);
    }
    return BULK_N / ((performance.now() - t) / 1000);
  } finally {
    await manager.dispose();
    await sql(`DELETE FROM ${stores.postgres.schema}.entities WHERE namespace = $1`, [namespace]);
  }
}

/** A wait for `n` closes: `record(i, at)` marks one (repeats ignored: at least once), `done` resolves at the last or the timeout. */
function closeLog(n: number, timeoutMs: number) {
  const closed = new Float64Array(n);
  let count = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const timeout = setTimeout(finish, timeoutMs);
  return {
    closed,
    get count() {
      return count;
    },
    record(i: number, at: number) {
      if (closed[i] !== 0) return;
      closed[i] = at;
      if (++count === n) finish();
    },
    done: done.then(() => clearTimeout(timeout)),
  };
}

/**
 * One run with `n` entities whose deadlines lie after the setup: sets them
 * up, waits for every close, and resolves with when each ran (epoch ms) and
 * its deadline. A setup that overran the first deadline is redone with a
 * longer head start.
 */
async function expiring(name: Name, n: number, spread: number) {
  let headStart = 2_000 + (1.25 * n * 1000) / (setupRate[name] ?? 2_000);
  for (;;) {
    const log = closeLog(n, CLOSE_TIMEOUT_MS + headStart);
    const subject = await subjects[name]((i) => log.record(i, Date.now()));
    const start = Date.now() + headStart;
    await setup(name, () => subject.setup(n, { base: start, spread }), n);
    const overran = Date.now() > start - 100;
    await log.done;
    await subject.end();
    if (log.count < n) throw new Error(`${name}: ${log.count} of ${n} closed within ${CLOSE_TIMEOUT_MS / 1000} s of the deadline`);
    if (!overran) return { closed: log.closed, deadlines: Float64Array.from({ length: n }, (_, i) => deadlineOf({ base: start, spread }, i, n)), start };
    headStart *= 2;
    console.log(`    (the setup overran the deadline: again, ${Math.round(headStart)} ms ahead)`);
  }
}

/** CLOSE_N ÷ (last close − the deadline), and when the first ran after it. */
function closeFigures(closed: Float64Array, start: number): { rate: number; first: number } {
  let first = Infinity;
  let last = 0;
  for (const t of closed) {
    first = Math.min(first, t);
    last = Math.max(last, t);
  }
  return { rate: closed.length / (Math.max(1, last - start) / 1000), first: first - start };
}

/** pg-boss (one worker, in this process): CLOSE_N due at one instant. */
async function closeRate(name: Name): Promise<{ rate: number; first: number }> {
  const { closed, start } = await expiring(name, CLOSE_N, 0);
  return closeFigures(closed, start);
}

/**
 * xstate-expire on PostgreSQL, CLOSE_N due at one instant, closed by
 * `processes` processes of their own (each a manager with its defaults); the
 * rows set up by a manager of this process, disposed before the deadline.
 */
async function closeRateIn(processes: number): Promise<{ rate: number; first: number }> {
  const namespace = `bench_${++sequence}`;
  const log = closeLog(CLOSE_N, CLOSE_TIMEOUT_MS);
  const children = await Promise.all(Array.from({ length: processes }, () => closer(server.connectionString, namespace, (batch) => batch.forEach(([i, at]) => log.record(i, at)))));
  try {
    const manager = await managerOn(stores.postgres, namespace);
    // Cloning 10k rows takes well under a second; the children poll every second.
    const start = Date.now() + 4_000;
    await setup('postgres', async () => {
      await manager.new('seed', far(), { closer: 'bench', data: -1 });
      await cloneRows(stores.postgres, namespace, 'seed', 'e-', CLOSE_N, { base: start, spread: 0 });
    }, CLOSE_N);
    await manager.dispose();
    if (Date.now() > start - 100) throw new Error('closes: the setup overran the deadline');
    await log.done;
    if (log.count < CLOSE_N) throw new Error(`closes: ${log.count} of ${CLOSE_N} closed within ${CLOSE_TIMEOUT_MS / 1000} s`);
    return closeFigures(log.closed, start);
  } finally {
    await Promise.all(children.map(stopCloser));
    await sql(`DELETE FROM ${stores.postgres.schema}.entities WHERE namespace = $1`, [namespace]);
  }
}

interface Lateness {
  p50: number;
  p99: number;
  max: number;
}

const latenessOf = (closed: Float64Array, deadlines: Float64Array): Lateness => {
  const late = Array.from(closed, (t, i) => t - deadlines[i]!);
  return { p50: percentile(late, 0.5), p99: percentile(late, 0.99), max: percentile(late, 1) };
};

/** Lateness (close − deadline) of LATE_N deadlines spread evenly over SPREAD_MS. */
async function lateness(name: Name): Promise<Lateness> {
  const { closed, deadlines } = await expiring(name, LATE_N, SPREAD_MS);
  return latenessOf(closed, deadlines);
}

/** p99 of each call (ms) and the lateness, with `live` rows in the namespace (PostgreSQL). */
interface AtLive {
  new: number;
  stop: number;
  start: number;
  late: Lateness;
}

/**
 * With `live` entities in one namespace (cloned, far ahead): RUNS runs of
 * LATENCY_N `new` (new ids), `stop` and `start`, each call timed, then one
 * lateness run (LATE_N spread over SPREAD_MS among them). Medians of the
 * runs' p99s.
 */
async function atLive(live: number): Promise<AtLive> {
  const namespace = `bench_${++sequence}`;
  const log = closeLog(LATE_N, CLOSE_TIMEOUT_MS);
  const manager = await managerOn(stores.postgres, namespace, (i) => log.record(i, Date.now()));
  try {
    const t = performance.now();
    await setup('postgres', async () => {
      await manager.new('seed', far(), { closer: 'bench', data: -1 });
      await cloneRows(stores.postgres, namespace, 'seed', 'live-', live, { base: far(), spread: live });
      await sql(`ANALYZE ${stores.postgres.schema}.entities`);
    }, live);
    console.log(`    ${k(live)} live rows set up in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const p99s: Array<Omit<AtLive, 'late'>> = [];
    for (let run = 0; run < RUNS; run++) {
      const times = { new: [] as number[], stop: [] as number[], start: [] as number[] };
      const timed = async (into: number[], call: () => Promise<unknown>) => {
        const began = performance.now();
        await call();
        into.push(performance.now() - began);
      };
      const deadline = far();
      for (let i = 0; i < LATENCY_N; i++) {
        const id = `p-${run}-${i}`;
        await timed(times.new, () => manager.new(id, deadline + i, { closer: 'bench', data: -1 }));
        await timed(times.stop, () => manager.stop(id));
        await timed(times.start, () => manager.start(id));
      }
      p99s.push({ new: percentile(times.new, 0.99), stop: percentile(times.stop, 0.99), start: percentile(times.start, 0.99) });
    }
    // Lateness among the live rows: LATE_N more, cloned with deadlines spread after a head start.
    const start = Date.now() + 3_000;
    await setup('postgres', () => cloneRows(stores.postgres, namespace, 'seed', 'late-', LATE_N, { base: start, spread: SPREAD_MS }), LATE_N);
    await log.done;
    if (log.count < LATE_N) throw new Error(`lateness at ${live} live: ${log.count} of ${LATE_N} closed`);
    const deadlines = Float64Array.from({ length: LATE_N }, (_, i) => deadlineOf({ base: start, spread: SPREAD_MS }, i, LATE_N));
    return {
      new: middle(p99s.map((p) => p.new)),
      stop: middle(p99s.map((p) => p.stop)),
      start: middle(p99s.map((p) => p.start)),
      late: latenessOf(log.closed, deadlines),
    };
  } finally {
    // Its rows stay: deleting a million takes minutes, and the server is dropped at the end.
    await manager.dispose();
  }
}

// ---- the table -----------------------------------------------------------------------------

const k = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : `${n}`);
const rate = (v: number) => `${Math.round(v).toLocaleString('en')}/s`;
const ms = (v: number) => `${Math.round(v)} ms`;
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const times = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : `${v.toFixed(v < 10 ? 2 : 1)}×`);

interface Figure {
  label: string;
  target: string;
  /** The raw loop's rate in this row's runs (median). */
  raw?: number;
  shown: Partial<Record<Name, string>>;
  /** The PostgreSQL figure ÷ the raw loop's, and ÷ pg-boss's. */
  toRaw?: number;
  toBoss?: number;
  /** met / not met (and by how much), or why there is no verdict. */
  verdict: string;
}
const figures: Figure[] = [];
/** The raw loop's rates over the run (each row's runs). */
const raws: number[] = [];
const verdict = (met: boolean, measured: string) => `${met ? 'met' : 'not met'} (${measured})`;

/**
 * Measures each subject RUNS times, the subjects taking turns run by run (a
 * slow spell of the disk hits them alike), the raw loop first in each run;
 * resolves with each subject's runs and the raw loop's median.
 */
async function measure<T>(
  label: string,
  fn: (name: Name) => Promise<T>,
  show: (v: T) => string,
  only: Name[] = names,
): Promise<{ runs: Partial<Record<Name, T[]>>; raw: number }> {
  const runs: Partial<Record<Name, T[]>> = {};
  const rawRuns: number[] = [];
  const t = performance.now();
  for (let run = 0; run < RUNS; run++) {
    rawRuns.push(await rawRate());
    for (const name of only) {
      (runs[name] ??= []).push(await fn(name));
      gc!();
    }
    console.log(`  ${label}, run ${run + 1}: raw ${rate(rawRuns.at(-1)!)}, ${only.map((name) => `${name} ${show(runs[name]!.at(-1)!)}`).join(', ')}`);
  }
  raws.push(...rawRuns);
  console.log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  return { runs, raw: middle(rawRuns) };
}

/** A row of rates (higher is better): medians, and the PostgreSQL figure's ratios. */
async function rateRow(label: string, target: string, fn: (name: Name) => Promise<number>, check: (pg: number, boss: number, raw: number) => string, only: Name[] = names) {
  const { runs, raw } = await measure(label, fn, rate, only);
  const value = (name: Name) => (runs[name] ? middle(runs[name]) : undefined);
  const pgRate = value('postgres')!;
  const bossRate = value('pg-boss')!;
  const figure: Figure = { label, target, raw, shown: {}, toRaw: pgRate / raw, toBoss: pgRate / bossRate, verdict: check(pgRate, bossRate, raw) };
  for (const name of only) figure.shown[name] = rate(value(name)!);
  figures.push(figure);
  return value;
}

const cpu = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
const loads: number[] = [];
const sampleLoad = () => loads.push(loadavg()[0]!);
const machine = () =>
  `${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; PostgreSQL ${serverVersion} on the same machine (fsync on); pg-boss ${bossVersion}; load average ${loads.length ? `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}` : '?'} over the run`;
sampleLoad();
console.log(`xstate-expire durable benchmarks — ${machine()}${quick ? ' (quick)' : ''}`);
const began = performance.now();

let lines: string[] = [];
let notes: string[] = [];
try {
  await rateRow(`\`new\`/s, sequential (${k(NEW_N)})`, '≥ 70% of the raw loop, and ≥ pg-boss', (n) => newRate(n, 1), (pgRate, bossRate, raw) =>
    verdict(pgRate >= 0.7 * raw && pgRate >= bossRate, `${Math.round((100 * pgRate) / raw)}% of raw, ${times(pgRate / bossRate)} pg-boss`),
  );
  sampleLoad();
  await rateRow(`\`new\`/s, ${IN_FLIGHT} in flight (${k(NEW_N)})`, '≥ 1.5× pg-boss', (n) => newRate(n, IN_FLIGHT), (pgRate, bossRate) =>
    verdict(pgRate >= 1.5 * bossRate, `${times(pgRate / bossRate)} pg-boss`),
  );
  sampleLoad();
  await rateRow(`\`stop\` + \`start\` cycles/s (${k(CYCLE_N)} live; pg-boss: cancel + resume)`, "≥ pg-boss's cancel + resume", cycleRate, (pgRate, bossRate) =>
    verdict(pgRate >= bossRate, `${times(pgRate / bossRate)} pg-boss`),
  );
  sampleLoad();

  // Closes: pg-boss's one worker in this process; xstate-expire in 1, then CLOSE_PROCESSES, processes of its own.
  const closeRuns = await measure(`closes/s (${k(CLOSE_N)} due at once), one process`, (name) => (name === 'pg-boss' ? closeRate(name) : closeRateIn(1)), (c) => rate(c.rate), ['pg-boss', 'postgres']);
  const one = middle(closeRuns.runs.postgres!.map((c) => c.rate));
  const bossCloses = middle(closeRuns.runs['pg-boss']!.map((c) => c.rate));
  figures.push({
    label: `closes/s, ${k(CLOSE_N)} due at once, one process`,
    target: '≥ 5,000/s',
    raw: closeRuns.raw,
    shown: { 'pg-boss': rate(bossCloses), postgres: rate(one), pglite: 'not run' },
    toRaw: one / closeRuns.raw,
    toBoss: one / bossCloses,
    verdict: verdict(one >= 5_000, rate(one)),
  });
  const firstClose = (name: Name) => ms(middle(closeRuns.runs[name]!.map((c) => c.first)));
  figures.push({ label: '↳ first close after the deadline', target: '', shown: { 'pg-boss': firstClose('pg-boss'), postgres: firstClose('postgres') }, verdict: '' });
  sampleLoad();
  const threeRuns = await measure(`closes/s (${k(CLOSE_N)} due), ${CLOSE_PROCESSES} processes`, () => closeRateIn(CLOSE_PROCESSES), (c) => rate(c.rate), ['postgres']);
  const three = middle(threeRuns.runs.postgres!.map((c) => c.rate));
  figures.push({
    label: `closes/s, ${k(CLOSE_N)} due, ${CLOSE_PROCESSES} processes`,
    target: '≥ 1.5× one process',
    raw: threeRuns.raw,
    shown: { 'pg-boss': 'not run', postgres: rate(three), pglite: 'not run' },
    toRaw: three / threeRuns.raw,
    toBoss: three / bossCloses,
    verdict: verdict(three >= 1.5 * one, `${times(three / one)} one process`),
  });
  sampleLoad();

  const bulk = await bulkRate();
  figures.push(
    bulk === undefined
      ? { label: `bulk create: \`newMany\` (${k(BULK_BATCH)} a call)`, target: '≥ 20,000/s', shown: { postgres: 'not implemented' }, verdict: 'not implemented' }
      : { label: `bulk create: \`newMany\` (${k(BULK_BATCH)} a call)`, target: '≥ 20,000/s', shown: { postgres: rate(bulk) }, verdict: verdict(bulk >= 20_000, rate(bulk)) },
  );

  const late = await measure(`expiry lateness p99 (${k(LATE_N)} over ${SPREAD_MS / 1000} s)`, lateness, (l) => ms(l.p99));
  const p = (name: Name, key: keyof Lateness) => middle(late.runs[name]!.map((l) => l[key]));
  figures.push({
    label: `expiry lateness p99, ${k(LATE_N)} over ${SPREAD_MS / 1000} s`,
    target: '≤ 25 ms',
    shown: { 'pg-boss': ms(p('pg-boss', 'p99')), postgres: ms(p('postgres', 'p99')), pglite: ms(p('pglite', 'p99')) },
    toBoss: p('postgres', 'p99') / p('pg-boss', 'p99'),
    verdict: verdict(p('postgres', 'p99') <= 25, ms(p('postgres', 'p99'))),
  });
  const pm = (name: Name) => `${ms(p(name, 'p50'))} / ${ms(p(name, 'max'))}`;
  figures.push({ label: '↳ p50 / max', target: '', shown: { 'pg-boss': pm('pg-boss'), postgres: pm('postgres'), pglite: pm('pglite') }, verdict: '' });
  sampleLoad();

  console.log(`  live rows: ${k(LIVE_SMALL)}, then ${k(LIVE_BIG)}`);
  const small = await atLive(LIVE_SMALL);
  const big = await atLive(LIVE_BIG);
  const worst = Math.max(big.new / small.new, big.stop / small.stop, big.start / small.start);
  const calls = (a: AtLive) => `${a.new.toFixed(1)} / ${a.stop.toFixed(1)} / ${a.start.toFixed(1)} ms`;
  figures.push({
    label: `${k(LIVE_BIG)} live rows: \`new\` / \`stop\` / \`start\` p99 (at ${k(LIVE_SMALL)}: ${calls(small)})`,
    target: `within 2× of at ${k(LIVE_SMALL)}`,
    shown: { postgres: calls(big) },
    verdict: verdict(worst <= 2, `worst ${times(worst)}`),
  });
  figures.push({
    label: `↳ lateness p99 at ${k(LIVE_BIG)} live (at ${k(LIVE_SMALL)}: ${ms(small.late.p99)})`,
    target: `unchanged (≤ 25 ms)`,
    shown: { postgres: ms(big.late.p99) },
    verdict: verdict(big.late.p99 <= 25, ms(big.late.p99)),
  });
  sampleLoad();

  // PGlite's first open of a new folder: each in a fresh process; the template cache warm (made by the first).
  console.log('  PGlite first open: the cold cache (making the template), then warm ones, then without a template');
  const cache = join(pgliteDir, 'open-cache');
  const cold = await firstOpen(cache);
  const warm: FirstOpen[] = [];
  for (let run = 0; run < OPEN_RUNS; run++) warm.push(await firstOpen(cache));
  const initdb = await firstOpen('none');
  const open = { ms: middle(warm.map((o) => o.ms)), cpuMs: middle(warm.map((o) => o.cpuMs)), rss: middle(warm.map((o) => o.rss)), before: middle(warm.map((o) => o.rssBefore)) };
  console.log(`    cold ${JSON.stringify(cold)}\n    warm ${JSON.stringify(warm)}\n    initdb ${JSON.stringify(initdb)}`);
  figures.push({
    label: `PGlite: first open of a new folder (a fresh process; template cached)`,
    target: '≤ 3 s, RSS ≤ 300 MB',
    shown: { pglite: `${(open.ms / 1000).toFixed(1)} s (CPU ${(open.cpuMs / 1000).toFixed(1)} s), RSS ${mb(open.rss)}` },
    verdict: verdict(open.ms <= 3_000 && open.rss <= 300 * 2 ** 20, `${(open.ms / 1000).toFixed(1)} s, ${mb(open.rss)}`),
  });
  figures.push({
    label: '↳ the first of all (makes the template) / without a template (`templateCache: false`, initdb here)',
    target: '',
    shown: {
      pglite: `${(cold.ms / 1000).toFixed(1)} s, RSS ${mb(cold.rss)} / ${(initdb.ms / 1000).toFixed(1)} s (CPU ${(initdb.cpuMs / 1000).toFixed(1)} s), RSS ${mb(initdb.rss)}`,
    },
    verdict: '',
  });
  sampleLoad();

  lines = [
    '| figure | target | raw commit loop (baseline) | pg-boss | xstate-expire, PostgreSQL | × raw | × pg-boss | met? | xstate-expire, PGlite |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of figures) {
    lines.push(
      `| ${f.label} | ${f.target} | ${f.raw === undefined ? '' : rate(f.raw)} | ${f.shown['pg-boss'] ?? ''} | ${f.shown.postgres ?? ''} | ${times(f.toRaw)} | ${times(f.toBoss)} | ${f.verdict} | ${f.shown.pglite ?? ''} |`,
    );
  }
  notes = [
    `- **Setup.** One PostgreSQL ${serverVersion} server started by the bench (\`test/support/postgres.ts\`: fsync on, otherwise default settings), on this machine, over TCP on 127.0.0.1; each run in a fresh namespace (xstate-expire) or queue (pg-boss), dropped after it. Median of ${RUNS} runs, the subjects taking turns run by run. What is set up before a timed phase is not timed and is written with \`synchronous_commit = off\`; every timed phase runs with it on.`,
    `- **Ratios.** × raw and × pg-boss: the PostgreSQL figure ÷ the raw loop's or pg-boss's, measured in the same runs; for rates above 1× is faster, for lateness below 1× is better.`,
    `- **Raw commit loop** (the baseline): ${RAW_N} single-row \`INSERT\`s (autocommit), each awaited, from one \`pg.Client\`, at the start of each run of each rate row: what the disk lets one client commit (${rate(Math.min(...raws))}–${rate(Math.max(...raws))} over this run).`,
    `- **xstate-expire, PostgreSQL**: \`createDurableExpireManager\` with its defaults (concurrency 100, \`pollIntervalMs\` 1 s, LISTEN/NOTIFY) on \`postgresStore({ connectionString })\` (a pool of 10). **PGlite**: the same manager on \`pgliteStore({ dataDir })\` — PostgreSQL compiled to WebAssembly inside the Node process, one connection; pg-boss needs a server, so PGlite is shown beside, without a ratio.`,
    `- **pg-boss** ${bossVersion}: \`new PgBoss({ connectionString, max: 10, schedule: false })\` (maintenance on, cron off); a queue with the standard policy; one \`work()\` with \`batchSize: ${BOSS_BATCH}\`, \`pollingIntervalSeconds: ${BOSS_POLL_S}\` (its minimum) and a handler that records each job. Its setup uses \`insert()\` (bulk). xstate-expire's setup writes one entity with \`new\` and copies its row in one \`INSERT … SELECT\` (ids, generations, deadlines and data changed): the rows the manager writes, found by its poll.`,
    `- **new/s**: ${k(NEW_N)} creates with a deadline an hour ahead: \`manager.new(id, deadline, { closer })\` against \`boss.send(queue, data, { startAfter })\`, one INSERT. Sequential: each awaited before the next; then ${IN_FLIGHT} in flight. \`new\` is keyed by id (a second one renews the expiration); \`send\` always adds a job.`,
    `- **stop + start**: with ${k(CYCLE_N)} live, \`stop(id)\` then \`start(id)\` for each, every call awaited. pg-boss has no pause; the closest it has is \`cancel(queue, jobId)\` then \`resume(queue, jobId)\`, which holds no lease: a process that dies between them leaves the job cancelled for good, where xstate-expire resumes the saved deadline after \`pauseTimeoutMs\`.`,
    `- **closes/s**: ${k(CLOSE_N)} entities or jobs with one deadline a few seconds ahead; ${k(CLOSE_N)} ÷ (last close or handler call − the deadline). xstate-expire: managers in 1 or ${CLOSE_PROCESSES} processes of their own (\`bench/durable-closer.ts\`), each claiming due rows in batches of 100 (one transaction, its rows written in one statement) and completing the closes that end together in one transaction (up to 100). pg-boss: one worker in this process, which fetches one batch per polling interval (so it tops out near ${BOSS_BATCH} ÷ ${BOSS_POLL_S} s = ${rate(BOSS_BATCH / BOSS_POLL_S)}) and completes a batch at once. PGlite not run, to keep the bench short.`,
    `- **newMany**: ${k(BULK_N)} creates, ${k(BULK_BATCH)} a call, one transaction each, when the manager has \`newMany\`; "not implemented" otherwise.`,
    `- **expiry lateness**: ${k(LATE_N)} deadlines spread evenly over ${SPREAD_MS / 1000} s, all set up before the first; lateness = when the close or handler ran − its deadline, on this machine's clock (the database's is the same). pg-boss polls, so its lateness is about the polling interval; xstate-expire arms a timer on the earliest deadline.`,
    `- **live rows**: ${k(LIVE_SMALL)}, then ${k(LIVE_BIG)} entities an hour ahead in one namespace; ${RUNS} runs of ${LATENCY_N} × (\`new\` of a new id, \`stop\`, \`start\`), each call timed, the median of the runs' p99s; then ${k(LATE_N)} deadlines spread over ${SPREAD_MS / 1000} s among them, their lateness p99 (one run per size).`,
    `- **PGlite first open**: \`pgliteStore({ dataDir })\` on a new folder, \`acquire()\` (open and create the schema), in a fresh process (\`bench/pglite-open.ts\`, Node with tsx, whose RSS before opening was ${mb(open.before)}): wall and CPU time, RSS right after; median of ${OPEN_RUNS} with the template cached. The first of all makes the template (\`initdb\` in a child process of its own); \`templateCache: false\` is the open as it was before the template: \`initdb\` in the opening process. Wall time follows the machine's load; CPU time less so.`,
  ];
} finally {
  await boss.stop({ graceful: false, wait: true }).catch((e: unknown) => console.error('pg-boss stop:', e));
  await stores.postgres.release();
  await stores.pglite.release();
  await server.stop();
  rmSync(pgliteDir, { recursive: true, force: true });
}

console.log(`\n${machine()}\n\n${lines.join('\n')}\n\n${notes.join('\n')}\n\n(${((performance.now() - began) / 1000).toFixed(0)} s)`);

if (write) {
  const docs = new URL('../docs/benchmarks.md', import.meta.url);
  const text = readFileSync(docs, 'utf8');
  const START = '<!-- durable: start -->';
  const END = '<!-- durable: end -->';
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  if (from < 0 || to < from) throw new Error(`docs/benchmarks.md has no ${START} … ${END} region`);
  const body = `## Durable: PostgreSQL, beside pg-boss and the raw commit loop

Measured by \`npm run bench:durable -- --write\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}.
Medians of ${RUNS} runs; the raw loop and pg-boss measured in the same runs.

${lines.join('\n')}

### What is measured

${notes.join('\n')}

\`\`\`sh
npm run bench:durable               # prints the table (about 15 minutes; --quick for a smoke test)
npm run bench:durable -- --write    # and rewrites this section
\`\`\``;
  writeFileSync(docs, `${text.slice(0, from + START.length)}\n${body}\n${text.slice(to)}`);
  console.log('\nwrote the durable section of docs/benchmarks.md');
}
process.exit(0);
