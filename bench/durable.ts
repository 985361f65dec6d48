/**
 * `npm run bench:durable`: xstate-expire's durable manager (xstate-expire/durable)
 * beside pg-boss, on one real PostgreSQL server that this script starts
 * (fsync on) and stops; the durable manager also on PGlite (embedded, in this
 * process). Every figure is the median of 3 runs, the subjects taking turns
 * run by run; ratios are against pg-boss in the same run.
 * `npm run bench:durable -- --write` also rewrites the durable region of
 * docs/benchmarks.md (and nothing else of it). `--quick` runs smaller sizes
 * (a smoke test, not for the docs).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import PgBoss from 'pg-boss';
import {
  type DurableExpireManager,
  type DurableStore,
  createDurableExpireManager,
  pgliteStore,
  postgresStore,
} from '../src/durable/index.js';
import { startPostgres } from '../test/support/postgres.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
if (write && quick) throw new Error('--write takes the full sizes: drop --quick');
const RUNS = 3;
/** Creates per run for new/s (sequential, then IN_FLIGHT at once). */
const NEW_N = quick ? 300 : 500;
const IN_FLIGHT = 8;
/** Live entities, each paused and resumed once per run. */
const CYCLE_N = quick ? 200 : 300;
/** Entities due at the same instant. */
const CLOSE_N = quick ? 1_000 : 10_000;
/** Entities whose deadlines are spread evenly over SPREAD_MS. */
const LATE_N = quick ? 400 : 2_000;
const SPREAD_MS = 5_000;
/** pg-boss's worker: one `work()` fetching up to BOSS_BATCH due jobs per poll, every 0.5 s (its minimum). */
const BOSS_BATCH = 1_000;
const BOSS_POLL_S = 0.5;
/** Setup (not timed): creates in flight at once, one per pool connection. */
const SETUP_IN_FLIGHT = 10;
/** A run that has not seen every close by then is a failure, not a figure. */
const CLOSE_TIMEOUT_MS = 180_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench:durable does)');

type Name = 'pg-boss' | 'postgres' | 'pglite';
const names: Name[] = ['pg-boss', 'postgres', 'pglite'];
const label: Record<Name, string> = {
  'pg-boss': 'pg-boss (baseline)',
  postgres: 'xstate-expire, PostgreSQL',
  pglite: 'xstate-expire, PGlite',
};

/** Called when an entity's close (or a job's handler) runs: its index and deadline. */
type OnClose = (i: number, deadline: number) => void;

/** One run's namespace (xstate-expire) or queue (pg-boss), fresh each run. */
interface Run {
  /** `new(id, deadline)` / `send(queue, data, { startAfter })`: resolves once committed. */
  create(i: number, deadline: number): Promise<void>;
  /** Not timed: entities 0…n-1 with these deadlines, the fastest way each offers. */
  setup(n: number, deadlineOf: (i: number) => number): Promise<void>;
  /** `stop(id)` / `cancel(queue, jobId)`. */
  pause(i: number): Promise<void>;
  /** `start(id)` / `resume(queue, jobId)`. */
  resume(i: number): Promise<void>;
  /** Stops the manager or worker and drops what the run left behind. */
  end(): Promise<void>;
}
type Open = (onClose?: OnClose) => Promise<Run>;

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
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
  pglite: pgliteStore({ dataDir: join(pgliteDir, 'data') }),
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

/** Single-row commits per second on this server (sequential): what the disk allows. */
async function commitRate(): Promise<number> {
  await sql('CREATE TABLE IF NOT EXISTS bench_commit (n integer)');
  const n = quick ? 100 : 300;
  const t = performance.now();
  for (let i = 0; i < n; i++) await sql('INSERT INTO bench_commit VALUES ($1)', [i]);
  const rate = n / ((performance.now() - t) / 1000);
  await sql('DROP TABLE bench_commit');
  return rate;
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

/** xstate-expire's durable manager on `store`, default options, in a namespace of its own. */
const durable =
  (store: DurableStore): Open =>
  async (onClose) => {
    const namespace = `bench_${++sequence}`;
    const manager: DurableExpireManager = await createDurableExpireManager({
      store,
      namespace,
      closers: { bench: ({ data, deadline }) => onClose?.(data as number, deadline) },
    });
    const id = (i: number) => `e-${i}`;
    const create = (i: number, deadline: number) => manager.new(id(i), deadline, { closer: 'bench', data: i });
    return {
      create,
      // No bulk API: `new`, one pool connection each.
      setup: (n, deadlineOf) => inFlight(n, SETUP_IN_FLIGHT, (i) => create(i, deadlineOf(i))),
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
    setup: async (n, deadlineOf) => {
      for (let from = 0; from < n; from += 1_000) {
        const chunk = Array.from({ length: Math.min(1_000, n - from) }, (_, j) => {
          const i = from + j;
          const deadline = deadlineOf(i);
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
async function setup(name: Name, subject: Run, n: number, deadlineOf: (i: number) => number): Promise<number> {
  await syncCommit(false);
  try {
    const t = performance.now();
    await subject.setup(n, deadlineOf);
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
  const deadline = far();
  await setup(name, subject, CYCLE_N, (i) => deadline + i);
  const t = performance.now();
  for (let i = 0; i < CYCLE_N; i++) {
    await subject.pause(i);
    await subject.resume(i);
  }
  const rate = CYCLE_N / ((performance.now() - t) / 1000);
  await subject.end();
  return rate;
}


/**
 * One run with `n` entities whose deadlines `deadlineOf(start, i)` lie after
 * the setup: sets them up, waits for every close, and resolves with when each
 * ran (epoch ms) and its deadline. A setup that overran the first deadline is
 * redone with a longer head start.
 */
async function expiring(name: Name, n: number, deadlineOf: (start: number, i: number) => number) {
  let headStart = 2_000 + (1.25 * n * 1000) / (setupRate[name] ?? 200);
  for (;;) {
    const closed = new Float64Array(n);
    const deadlines = new Float64Array(n);
    let count = 0;
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const subject = await subjects[name]((i, deadline) => {
      if (closed[i] !== 0) return; // at least once: a repeat is not another close
      closed[i] = Date.now();
      deadlines[i] = deadline;
      if (++count === n) finish();
    });
    const start = Date.now() + headStart;
    await setup(name, subject, n, (i) => deadlineOf(start, i));
    const overran = Date.now() > start - 100;
    const timeout = setTimeout(finish, CLOSE_TIMEOUT_MS + headStart);
    await all;
    clearTimeout(timeout);
    await subject.end();
    if (count < n) throw new Error(`${name}: ${count} of ${n} closed within ${CLOSE_TIMEOUT_MS / 1000} s of the deadline`);
    if (!overran) return { closed, deadlines, start };
    headStart *= 2;
    console.log(`    (the setup overran the deadline: again, ${Math.round(headStart)} ms ahead)`);
  }
}

/** CLOSE_N due at one instant: CLOSE_N ÷ (last close − the deadline), and when the first ran. */
async function closeRate(name: Name): Promise<{ rate: number; first: number }> {
  const { closed, start } = await expiring(name, CLOSE_N, (at) => at);
  let first = Infinity;
  let last = 0;
  for (const t of closed) {
    first = Math.min(first, t);
    last = Math.max(last, t);
  }
  return { rate: CLOSE_N / (Math.max(1, last - start) / 1000), first: first - start };
}

interface Lateness {
  p50: number;
  p99: number;
  max: number;
}

/** Lateness (close − deadline) of LATE_N deadlines spread evenly over SPREAD_MS. */
async function lateness(name: Name): Promise<Lateness> {
  const { closed, deadlines } = await expiring(name, LATE_N, (start, i) => start + Math.floor((i / LATE_N) * SPREAD_MS));
  const late = Array.from(closed, (t, i) => t - deadlines[i]!).sort((a, b) => a - b);
  return { p50: late[Math.floor(LATE_N * 0.5)]!, p99: late[Math.floor(LATE_N * 0.99)]!, max: late[LATE_N - 1]! };
}

// ---- the table -----------------------------------------------------------------------------

const k = (n: number) => (n >= 1000 ? `${n / 1000}k` : `${n}`);
const rate = (v: number) => `${Math.round(v).toLocaleString('en')}/s`;
const ms = (v: number) => `${Math.round(v)} ms`;
const ratio = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(v < 10 ? 2 : 1)}×`);

interface Row {
  label: string;
  shown: Partial<Record<Name, string>>;
  /** Against pg-boss: how many times its cost (for rates, how many times slower: 0.5× = twice its rate). */
  ratio: Partial<Record<Name, number>>;
}
const rows: Row[] = [];

/**
 * Measures each subject RUNS times, the subjects taking turns run by run (a
 * slow spell of the disk hits them alike); each figure is the median of its runs.
 */
async function row<T>(
  label: string,
  measure: (name: Name) => Promise<T>,
  summarize: (runs: T[]) => number,
  format: (v: number) => string,
  { higherIsBetter = false, only = names }: { higherIsBetter?: boolean; only?: Name[] } = {},
): Promise<Partial<Record<Name, T[]>>> {
  const runs: Partial<Record<Name, T[]>> = {};
  commits.push(await commitRate());
  const t = performance.now();
  for (let run = 0; run < RUNS; run++) {
    for (const name of only) {
      (runs[name] ??= []).push(await measure(name));
      gc!();
    }
    const now = only.map((name) => `${name} ${format(summarize(runs[name]!.slice(-1)))}`).join(', ');
    console.log(`  ${label}, run ${run + 1}: ${now}`);
  }
  const values: Partial<Record<Name, number>> = {};
  const r: Row = { label, shown: {}, ratio: {} };
  for (const name of only) {
    values[name] = summarize(runs[name]!);
    r.shown[name] = format(values[name]!);
  }
  const base = values['pg-boss']!;
  for (const name of only) r.ratio[name] = higherIsBetter ? base / values[name]! : values[name]! / base;
  console.log(`  ${label}: ${only.map((name) => `${name} ${r.shown[name]}`).join(', ')} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  rows.push(r);
  return runs;
}

/** Single-row commits/s, sampled before each workload: how fast the disk let a commit through. */
const commits: number[] = [];
const cpu = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
const machine = () => {
  const range = commits.length ? `: ${rate(Math.min(...commits))}–${rate(Math.max(...commits))} single-row commits, sequential, over the run` : '';
  return `${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; PostgreSQL ${serverVersion} on the same machine (fsync on${range}); pg-boss ${bossVersion}`;
};
console.log(`xstate-expire durable benchmarks — ${machine()}${quick ? ' (quick)' : ''}`);
const began = performance.now();

let lines: string[] = [];
let notes: string[] = [];
try {
  const median = (runs: number[]) => middle(runs);
  await row(`new/s, sequential (${k(NEW_N)})`, (n) => newRate(n, 1), median, rate, { higherIsBetter: true });
  await row(`new/s, ${IN_FLIGHT} in flight (${k(NEW_N)})`, (n) => newRate(n, IN_FLIGHT), median, rate, { higherIsBetter: true });
  await row(`stop + start cycles/s (${k(CYCLE_N)} live; pg-boss: cancel + resume)`, cycleRate, median, rate, {
    higherIsBetter: true,
  });
  const late = await row(
    `expiry lateness p99 (${k(LATE_N)} over ${SPREAD_MS / 1000} s)`,
    lateness,
    (runs) => middle(runs.map((r) => r.p99)),
    ms,
  );
  // PGlite is left out here: setting up 10k through `new` alone takes it most of a minute a run.
  const withServer: Name[] = ['pg-boss', 'postgres'];
  const closes = await row(`closes/s (${k(CLOSE_N)} due at once)`, closeRate, (runs) => middle(runs.map((r) => r.rate)), rate, {
    higherIsBetter: true,
    only: withServer,
  });

  lines = [
    `| workload | ${label['pg-boss']} | ${label.postgres} | × pg-boss | ${label.pglite} | × pg-boss |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const cell = (r: Row, name: Name) => r.shown[name] ?? 'not run';
  // Measured lateness first (the closes' head start comes from its setup), shown last.
  rows.push(...rows.splice(rows.findIndex((r) => r.label.startsWith('expiry lateness')), 1));
  for (const r of rows) {
    lines.push(`| ${r.label} | ${cell(r, 'pg-boss')} | ${cell(r, 'postgres')} | ${ratio(r.ratio.postgres)} | ${cell(r, 'pglite')} | ${ratio(r.ratio.pglite)} |`);
    if (r.label.startsWith('closes/s')) {
      const f = (n: Name) => (closes[n] ? ms(middle(closes[n].map((c) => c.first))) : '');
      lines.push(`| ↳ first close after the deadline | ${f('pg-boss')} | ${f('postgres')} |  |  |  |`);
    }
    if (r.label.startsWith('expiry lateness')) {
      const pm = (n: Name) => `${ms(middle(late[n]!.map((l) => l.p50)))} / ${ms(middle(late[n]!.map((l) => l.max)))}`;
      lines.push(`| ↳ p50 / max | ${pm('pg-boss')} | ${pm('postgres')} |  | ${pm('pglite')} |  |`);
    }
  }
  // Closes falling behind the deadlines (p50 beyond half a second): say why.
  const pgliteQueued = middle(late.pglite!.map((l) => l.p50)) > 500;
  notes = [
    `- **Setup.** One PostgreSQL ${serverVersion} server started by the bench (\`test/support/postgres.ts\`: fsync on, otherwise default settings), on this machine, over TCP on 127.0.0.1; each run in a fresh namespace (xstate-expire) or queue (pg-boss), dropped after it. Median of ${RUNS} runs, the subjects taking turns run by run. The ratio is how many times pg-boss's cost; for rates, how many times slower (0.5× is twice pg-boss's rate). What is set up before a timed phase (the live entities, the due ones) is not timed and is written with \`synchronous_commit = off\`; every timed phase runs with it on.`,
    `- **xstate-expire, PostgreSQL**: \`createDurableExpireManager\` with its defaults (concurrency 100, \`pollIntervalMs\` 1 s, LISTEN/NOTIFY) on \`postgresStore({ connectionString })\` (a pool of 10). **PGlite**: the same manager on \`pgliteStore({ dataDir })\` — PostgreSQL compiled to WebAssembly inside the Node process, one connection, its files in a temp folder. pg-boss needs a server, so that ratio is across stores.`,
    `- **pg-boss** ${bossVersion}: \`new PgBoss({ connectionString, max: 10, schedule: false })\` (maintenance on, cron off); a queue with the standard policy; one \`work()\` with \`batchSize: ${BOSS_BATCH}\`, \`pollingIntervalSeconds: ${BOSS_POLL_S}\` (its minimum) and a handler that records each job. Its setup uses \`insert()\` (bulk); xstate-expire has no bulk create, so \`new\`, ${SETUP_IN_FLIGHT} at once.`,
    `- **new/s**: ${k(NEW_N)} creates with a deadline an hour ahead: \`manager.new(id, deadline, { closer })\` — one transaction that reads the database clock, locks the id's live row, inserts and NOTIFYs — against \`boss.send(queue, data, { startAfter })\`, one INSERT. Sequential: each awaited before the next; then ${IN_FLIGHT} in flight. \`new\` is keyed by id (a second one renews the expiration); \`send\` always adds a job.`,
    `- **stop + start**: with ${k(CYCLE_N)} live, \`stop(id)\` then \`start(id)\` for each, every call awaited: a pause that keeps the deadline, and its end. pg-boss has no pause; the closest it has is \`cancel(queue, jobId)\` then \`resume(queue, jobId)\` (cancelled → created; \`startAfter\` is kept), measured here. What it cannot do is hold that pause safely: a cancel is no lease, so a process that dies between cancel and resume leaves the job cancelled for good, where xstate-expire resumes the saved deadline after \`pauseTimeoutMs\`; a cancelled job is archived after \`archiveCompletedAfterSeconds\` (12 h by default), and resume then finds nothing; and the job is addressed by its job id, not by the entity's id.`,
    `- **closes/s**: ${k(CLOSE_N)} entities or jobs with one deadline a few seconds ahead; ${k(CLOSE_N)} ÷ (last close or handler call − the deadline). xstate-expire claims due rows in batches of 100 (one transaction each) and completes each close in a transaction of its own (the row is deleted); pg-boss fetches a batch, calls the handler once with it, and marks the batch completed without awaiting that. pg-boss's worker fetches one batch per polling interval, so one worker tops out near ${BOSS_BATCH} ÷ ${BOSS_POLL_S} s = ${rate(BOSS_BATCH / BOSS_POLL_S)}: more \`work()\` calls or a bigger batch raise that. PGlite not run, to keep the bench short: its setup alone (${k(CLOSE_N)} \`new\` at the ${rate(setupRate.pglite!)} it showed) would take ${Math.round(CLOSE_N / setupRate.pglite!)} s a run.`,
    `- **expiry lateness**: ${k(LATE_N)} deadlines spread evenly over ${SPREAD_MS / 1000} s, all set up before the first; lateness = when the close or handler ran − its deadline, on this machine's clock (the database's is the same). pg-boss polls, so its lateness is about the polling interval; xstate-expire arms a timer on the earliest deadline (database time) and wakes the other managers by NOTIFY.${pgliteQueued ? ` PGlite runs PostgreSQL on the Node thread itself, closes included: ${rate(LATE_N / (SPREAD_MS / 1000))} is about what it can close here, so its lateness is mostly queueing, and varies widely from run to run.` : ''}`,
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
  const body = `## Durable: PostgreSQL, beside pg-boss

Measured by \`npm run bench:durable -- --write\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}.
Medians of ${RUNS} runs; ratios against pg-boss in the same run (for rates, how many times slower:
below 1× is faster than pg-boss).

${lines.join('\n')}

### What is measured

${notes.join('\n')}

\`\`\`sh
npm run bench:durable               # prints the table (about 5 minutes; --quick for a smoke test)
npm run bench:durable -- --write    # and rewrites this section
\`\`\``;
  writeFileSync(docs, `${text.slice(0, from + START.length)}\n${body}\n${text.slice(to)}`);
  console.log('\nwrote the durable section of docs/benchmarks.md');
}
process.exit(0);
