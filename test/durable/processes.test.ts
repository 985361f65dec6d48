/**
 * Durable managers in separate processes on one real PostgreSQL 15 server:
 * crashes (SIGKILL) and stalls (SIGSTOP) of a worker mid-close, processes
 * racing on shared ids, a restart after the deadlines passed, clocks off by
 * ten minutes, and a crash of PostgreSQL itself.
 *
 * Each worker (test/durable/worker.ts) is a DurableExpireManager in its own
 * process whose closer logs every invocation into `<schema>.closes` with the
 * database's time (`clock_timestamp()`) and what it saw of its own row; every
 * claim below is proved from that table and from `<schema>.entities`. Time is
 * the database's real time here (no test clock): timeouts are short.
 *
 * Skipped when no PostgreSQL server binaries are installed, except in CI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundled } from '../support/bundle.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';
import { hasPostgres } from './support.js';
import type { OpenConfig, RaceConfig } from './worker.js';

const skip = !hasPostgres && !process.env['CI'];
if (skip) {
  console.warn(
    'test/durable/processes.test.ts skipped: no PostgreSQL server binaries (initdb, postgres, pg_isready) found; ' +
      'install postgresql-15 or run scripts/ensure-postgres.sh (in CI this fails instead).',
  );
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** worker.ts and skew.ts, bundled: each worker starts on plain `node` (see test/support/bundle.ts). */
const WORKER = bundled('durable-worker');
const SKEW = pathToFileURL(bundled('clock-skew')).href;
const TEN_MINUTES = 600_000;
/**
 * The claim timeout where a takeover is tested: short, yet several heartbeats
 * (every CLAIM / 3) long, so that a busy machine does not lose a live claim.
 */
const CLAIM = 1_000;
/** Plain workers kept loaded: the most a test hires at once. */
const PLAIN = 3;
/**
 * The ceiling of a wait for something that must happen (a worker's reply, an
 * event, a row): the wait ends as soon as it does, in well under a second on an
 * idle machine; a loaded one may take many times that. Only a hang reaches it.
 * The waits whose bound is the behaviour under test say so where they are.
 */
const CEILING = 60_000;

interface WorkerEvent {
  type: 'event';
  event: string;
  id?: string;
  generation?: number;
  error?: string;
}

/** Every worker process started: none outlives this test process, whatever ends it. */
const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
});

/** A worker process: requests over IPC, events it reports, its stderr kept for failure messages. */
class Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  events: WorkerEvent[] = [];
  owner = '';
  #stderr = '';
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #waiters = new Set<() => void>();

  constructor(readonly skewMs = 0) {
    const preload = skewMs === 0 ? [] : ['--import', SKEW];
    const env: NodeJS.ProcessEnv = { ...process.env, CLOCK_SKEW_MS: String(skewMs) };
    delete env['NODE_OPTIONS'];
    this.child = spawn(process.execPath, [...preload, WORKER], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    spawned.add(this.child);
    this.child.once('exit', () => spawned.delete(this.child));
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk).slice(-4_000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const { reject } of this.#pending.values()) reject(new Error(`worker ${this.pid} exited. stderr:\n${this.stderr}`));
      this.#pending.clear();
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      void this.exited.then(() => reject(new Error(`worker exited before it was ready. stderr:\n${this.stderr}`)));
      this.child.on('message', (message: { type: string; seq?: number; ok?: boolean; value?: unknown; error?: string }) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'reply') {
          const pending = this.#pending.get(message.seq!);
          this.#pending.delete(message.seq!);
          if (message.ok) pending?.resolve(message.value);
          else pending?.reject(new Error(`worker ${this.pid}: ${message.error}`));
        } else if (message.type === 'event') {
          this.events.push(message as WorkerEvent);
          for (const wake of this.#waiters) wake();
        }
      });
    });
    // Nobody awaits a worker killed before it was ready.
    this.ready.catch(() => {});
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  request<T = unknown>(op: string, fields: object = {}, timeoutMs = CEILING): Promise<T> {
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`worker ${this.pid}: ${op} took over ${timeoutMs} ms. stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.#pending.set(seq, {
        resolve: (value) => (clearTimeout(timer), resolve(value as T)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.child.send({ seq, op, ...fields });
    });
  }

  async open(config: OpenConfig): Promise<{ owner: string; skewMs: number }> {
    const opened = await this.request<{ owner: string; skewMs: number }>('open', { config });
    this.owner = opened.owner;
    return opened;
  }

  /** Resolves with the first event (already seen or coming) that `match` accepts. */
  async waitEvent(match: (event: WorkerEvent) => boolean, timeoutMs = CEILING): Promise<WorkerEvent> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > until || !this.alive) throw new Error(`worker ${this.pid}: no such event. stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const wake = () => (this.#waiters.delete(wake), clearTimeout(timer), resolve());
        const timer = setTimeout(wake, 100);
        this.#waiters.add(wake);
      });
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

/** Workers already loaded (xstate and pg take a while on a busy machine), by clock skew. */
const idle = new Map<number, Worker[]>();
const hired: Worker[] = [];

function warm(count: number, skewMs = 0): void {
  const list = idle.get(skewMs) ?? [];
  for (let i = 0; i < count; i++) list.push(new Worker(skewMs));
  idle.set(skewMs, list);
}

/** `count` ready workers, loaded ones first; given back (or killed) after the test. */
async function hire(count: number, skewMs = 0): Promise<Worker[]> {
  const list = (idle.get(skewMs) ?? []).filter((worker) => worker.alive);
  const workers = list.splice(0, count);
  idle.set(skewMs, list);
  while (workers.length < count) workers.push(new Worker(skewMs));
  hired.push(...workers);
  await Promise.all(workers.map((worker) => worker.ready));
  for (const worker of workers) worker.events = [];
  return workers;
}

let server: PostgresServer;
let admin: pg.Pool;

async function q<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await admin.query(sql, params)).rows as T[];
}

/** The database's time, in ms. */
async function dbNow(): Promise<number> {
  const [row] = await q<{ now: number }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`);
  return row!.now;
}

/** A schema of its own for a test, with the closers' log. */
async function schemaFor(name: string): Promise<string> {
  const schema = `proc_${name}`;
  await q(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await q(`CREATE SCHEMA ${schema}`);
  await q(`CREATE TABLE ${schema}.closes (
    token uuid PRIMARY KEY,
    kind text NOT NULL,            -- 'closer' (the manager's close) or 'user' (protocol.close's callback)
    id text NOT NULL,
    generation bigint,
    pid int NOT NULL,
    owner text,                    -- the manager that ran it
    deadline double precision,     -- what the closer got
    started double precision NOT NULL,
    finished double precision,
    failed boolean,
    row_state text,                -- its row (id, generation) when it started
    row_live boolean,
    row_owner text
  )`);
  return schema;
}

/** A worker's options: database time, short leases, polling a few times a second. */
const config = (schema: string, more: Partial<OpenConfig> = {}): OpenConfig => ({
  connectionString: server.connectionString,
  schema,
  namespace: 'ns',
  claimTimeoutMs: CLAIM,
  pauseTimeoutMs: CLAIM,
  pollIntervalMs: 200,
  ...more,
});

interface CloseRow {
  kind: string;
  id: string;
  generation: number;
  pid: number;
  owner: string;
  deadline: number;
  started: number;
  finished: number | null;
  failed: boolean | null;
  row_state: string | null;
  row_live: boolean | null;
  row_owner: string | null;
}

const closesOf = (schema: string, kind = 'closer') =>
  q<CloseRow>(
    `SELECT kind, id, generation::float8 AS generation, pid, owner, deadline, started, finished, failed, row_state, row_live, row_owner
       FROM ${schema}.closes WHERE kind = $1 ORDER BY started`,
    [kind],
  );

interface EntityRow {
  id: string;
  generation: number;
  state: string;
  live: boolean;
  deadline: number;
  due: number | null;
  owner: string | null;
  lease_until: number | null;
  lease_event: string | null;
  holders: string[];
}

const entitiesOf = (schema: string) =>
  q<EntityRow>(
    `SELECT id, generation::float8 AS generation, state, live, deadline, due, owner, lease_until, lease_event, holders
       FROM ${schema}.entities ORDER BY id, generation`,
  );

/** Polls `check` until it returns true. */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = CEILING,
  everyMs = 50,
  explain?: () => Promise<unknown>,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) {
      const details = explain ? `\n${JSON.stringify(await explain(), null, 1)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${details}`);
    }
    await sleep(everyMs);
  }
}

/**
 * SIGSTOPs a worker at a moment it holds no transaction open. (A process
 * stalled inside a transaction keeps its row locks, and `FOR UPDATE SKIP
 * LOCKED` skips those rows: nobody could take over until it resumes — the
 * frozen-worker test below is about that.)
 */
async function stall(worker: Worker): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    worker.signal('SIGSTOP');
    await sleep(40);
    const [row] = await q<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'`,
      [`worker_${worker.pid}`],
    );
    if (row!.n === 0) return attempt;
    if (attempt >= 20) throw new Error('could not stall the worker outside a transaction');
    worker.signal('SIGCONT');
    await sleep(5 + Math.random() * 40);
  }
}

describe.skipIf(skip)('durable managers in separate processes on a real PostgreSQL 15', () => {
  beforeAll(async () => {
    // Load three workers while the server starts (xstate and pg take a while on a busy machine).
    warm(PLAIN);
    server = await startPostgres({ fsync: true });
    admin = new pg.Pool({ connectionString: server.connectionString, max: 4 });
    admin.on('error', () => {}); // the crash test kills the server under it
    // The two with clocks off by ±10 minutes load meanwhile.
    warm(1, TEN_MINUTES);
    warm(1, -TEN_MINUTES);
  }, 3 * CEILING);

  afterEach(async () => {
    for (const worker of hired.splice(0)) {
      worker.signal('SIGCONT');
      try {
        if (!worker.alive) continue;
        // Disposed and kept loaded for the next test; killed (and replaced) if it cannot.
        await worker.request('dispose', {}, 10_000);
        idle.get(worker.skewMs)!.push(worker);
      } catch {
        await worker.kill();
      }
    }
    // Replace the workers killed, for the next test.
    warm(PLAIN - (idle.get(0) ?? []).filter((worker) => worker.alive).length);
  }, 2 * CEILING);

  afterAll(async () => {
    await Promise.all([...idle.values()].flat().map((worker) => worker.kill()));
    await admin?.end().catch(() => {});
    // No checkpoint to wait for: the data dir goes.
    await server?.kill();
    await server?.stop();
  }, 2 * CEILING);

  it('a worker SIGKILLed in the middle of a close: another takes it over once the claim timed out, not before', async () => {
    const s = await schemaFor('kill');
    const [a, b] = await hire(2);
    await a!.open(config(s, { closer: { block: true } })); // its closer never finishes
    await a!.request('new', { id: 'x', ttlMs: 50 });
    const claimed = await a!.waitEvent((e) => e.event === 'closing' && e.id === 'x');
    await b!.open(config(s));

    // A lives: its heartbeat renews the claim, and B, polling, leaves it alone past claimTimeoutMs.
    const [first] = await entitiesOf(s);
    expect(first).toMatchObject({ id: 'x', state: 'expired.closing', live: false, owner: a!.owner, lease_event: 'reclaim' });
    await sleep(CLAIM + 200);
    const [renewed] = await entitiesOf(s);
    const readAt = await dbNow();
    expect(renewed, 'A is alive: nobody takes its claim').toMatchObject({ owner: a!.owner });
    // The claim as first read has ended by now, yet A still holds one: renewed.
    expect(readAt).toBeGreaterThan(first!.lease_until!);
    expect(renewed!.lease_until!).toBeGreaterThan(readAt);
    expect(await closesOf(s)).toHaveLength(1);

    const [held] = await entitiesOf(s);
    await a!.kill();
    const killedAt = await dbNow();
    await waitFor('the takeover to complete', async () => (await entitiesOf(s)).length === 0);

    const closes = await closesOf(s);
    expect(closes.map((c) => [c.pid, c.generation, c.finished === null])).toEqual([
      [a!.pid, claimed.generation, true],
      [b!.pid, claimed.generation, false],
    ]);
    // Each ran holding its claim: the row closing, owned by it.
    for (const close of closes) {
      expect(close).toMatchObject({ row_state: 'expired.closing', row_live: false, row_owner: close.owner });
    }
    const takeover = closes[1]!;
    // Not before the claim ran out (A's last renewal before the kill ends no earlier than `held`)…
    expect(takeover.started).toBeGreaterThanOrEqual(held!.lease_until!);
    // …and soon after: A renewed it last at the kill at the latest, so it ran out by killedAt + claimTimeoutMs.
    expect(takeover.started - (killedAt + CLAIM)).toBeLessThan(700);
  });

  it('a stalled worker (SIGSTOP) resumed after the takeover and a new incarnation completes nothing', async () => {
    const s = await schemaFor('stall');
    const [a, b] = await hire(2);
    await a!.open(config(s, { closer: { block: true } }));
    await a!.request('new', { id: 'x', ttlMs: 50 });
    await a!.request('new', { id: 'y', ttlMs: 50 });
    const x = await a!.waitEvent((e) => e.event === 'closing' && e.id === 'x');
    const y = await a!.waitEvent((e) => e.event === 'closing' && e.id === 'y');
    // B's closes wait too, but for x only until it has one.
    await b!.open(config(s, { closer: { block: true } }));
    await b!.request('release', { id: 'x' });

    await stall(a!);
    const stalledAt = await dbNow();
    await waitFor('B to take x over and complete it, and to run y', async () => {
      const rows = await entitiesOf(s);
      return rows.length === 1 && rows[0]!.id === 'y' && rows[0]!.owner === b!.owner;
    });
    await b!.waitEvent((e) => e.event === 'closing' && e.id === 'y');
    const [, takeover] = await closesOf(s).then((closes) => closes.filter((c) => c.id === 'x'));
    expect(takeover).toMatchObject({ pid: b!.pid, generation: x.generation, row_state: 'expired.closing', row_owner: b!.owner });
    expect(takeover!.finished).not.toBeNull();
    expect(takeover!.started).toBeGreaterThanOrEqual(stalledAt);

    // A new incarnation of x; then A wakes up, and its closes of x and y finish.
    await b!.request('new', { id: 'x', ttlMs: 60_000, data: 'second' });
    const [incarnation, yRunning] = await entitiesOf(s);
    expect(incarnation).toMatchObject({ id: 'x', state: 'active', live: true });
    expect(incarnation!.generation).toBeGreaterThan(x.generation!);
    a!.signal('SIGCONT');
    await a!.request('release', { id: 'x' });
    await a!.request('release', { id: 'y' });
    // dispose resolves once A's running closes have settled and their completions were attempted.
    await a!.request('dispose');
    await sleep(300); // and another poll and heartbeat of B

    // The new incarnation untouched, y still B's (A's completion was fenced by owner), nothing came back.
    const after = await entitiesOf(s);
    expect(after[0]).toEqual(incarnation);
    expect(after.slice(1).map((e) => [e.id, e.generation, e.state, e.owner])).toEqual([['y', y.generation, 'expired.closing', b!.owner]]);
    expect(yRunning).toMatchObject({ id: 'y', owner: b!.owner });
    await b!.request('release', { id: 'y' });
    await waitFor("B to complete y", async () => (await entitiesOf(s)).length === 1);
    expect(await entitiesOf(s)).toEqual([incarnation]);

    // Each close ran twice (at least once: A's stalled one and B's), every one finished; none of the new incarnation.
    const closes = await closesOf(s);
    expect(closes.map((c) => [c.id, c.generation, c.pid, c.finished !== null]).sort()).toEqual(
      [
        ['x', x.generation, a!.pid, true],
        ['x', x.generation, b!.pid, true],
        ['y', y.generation, a!.pid, true],
        ['y', y.generation, b!.pid, true],
      ].sort(),
    );
  });

  it('three processes racing update, close, fail and expire on shared ids, with injected failures', async () => {
    const s = await schemaFor('race');
    const workers = await hire(3);
    // Claims far beyond a heartbeat's delay, even on a loaded machine: no claim may run out
    // here, so no close may run twice. (No worker dies: nothing waits for a claim to end.)
    await Promise.all(
      workers.map((w) => w.open(config(s, { claimTimeoutMs: 30_000, pauseTimeoutMs: 900, closer: { holdMs: [0, 60], failRate: 0.1 } }))),
    );
    const ids = ['r0', 'r1', 'r2', 'r3', 'r4'];

    // Meanwhile: a generation whose close started is never live again.
    const reArmed: unknown[] = [];
    let racing = true;
    const monitor = (async () => {
      while (racing) {
        reArmed.push(
          ...(await q(
            `SELECT c.id, c.generation::float8 AS generation, e.state FROM ${s}.closes c
               JOIN ${s}.entities e ON e.id = c.id AND e.generation = c.generation
              WHERE c.kind = 'closer' AND e.live`,
          )),
        );
        await sleep(25);
      }
    })();
    const seed = Date.now() % 1_000_000;
    let stats: Array<Record<string, number>>;
    try {
      stats = await Promise.all(
        workers.map((w, i) => w.request<Record<string, number>>('race', { config: { ids, durationMs: 1_500, minOps: 15, seed: seed + i, loops: 2 } satisfies RaceConfig })),
      );
    } finally {
      racing = false;
      await monitor;
    }
    const live = await q<{ id: string; generation: number }>(
      `SELECT id, generation::float8 AS generation FROM ${s}.entities WHERE live ORDER BY id`,
    );
    // The final wait: pauses end (900 ms), deadlines (≤ 1 s: each loop ends with a 1 s renewal) pass, closes finish.
    await waitFor('every entity to be closed', async () => (await entitiesOf(s)).length === 0);

    const all = await closesOf(s);
    // Generation 0: a renewal the manager refused, closed once by itself (not armed, no row).
    const unarmed = all.filter((c) => c.generation === 0);
    const closes = all.filter((c) => c.generation !== 0);
    const sum = (what: string) => stats.reduce((n, st) => n + (st[what] ?? 0), 0);
    const context = `seed ${seed}, stats ${JSON.stringify(stats)}`;
    // The race did race: many updates, closes of each kind, injected failures.
    expect(sum('update'), context).toBeGreaterThanOrEqual(20);
    expect(sum('close') + sum('fail') + sum('expire'), context).toBeGreaterThanOrEqual(10);
    expect(sum('injected'), context).toBeGreaterThanOrEqual(2);
    expect(closes.length, context).toBeGreaterThanOrEqual(5);
    expect(unarmed.every((c) => c.row_state === null), context).toBe(true);

    // At most one close per (id, generation).
    const seen = new Map<string, number>();
    for (const c of closes) seen.set(`${c.id}#${c.generation}`, (seen.get(`${c.id}#${c.generation}`) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1), context).toEqual([]);
    // Each close ran on its own claim: never on a paused (or live, or someone else's) row.
    expect(
      closes.filter((c) => c.row_state !== 'expired.closing' || c.row_live !== false || c.row_owner !== c.owner),
      context,
    ).toEqual([]);
    expect(all.every((c) => c.finished !== null), context).toBe(true);
    // A closed generation never came back.
    expect(reArmed, context).toEqual([]);
    // Every entity still live when the race ended closed exactly once, with that generation.
    expect(live.length, context).toBeGreaterThan(0);
    for (const { id, generation } of live) {
      expect(seen.get(`${id}#${generation}`), `${id}#${generation}; ${context}`).toBe(1);
    }
  });

  it('a restart after the deadlines passed: each past-due entity closes exactly once', async (context) => {
    const [r1, r2] = await hire(2);
    const ids = Array.from({ length: 12 }, (_, i) => `e${i}`).sort();
    // The scene: a creator makes the entities and is killed before any deadline. How long
    // that takes is the machine's doing: when the creator outlived a deadline (and closed
    // some), the scene is set again with deadlines beyond what it took, and after three
    // tries the test is skipped, saying why.
    let s = '';
    let options = config('none');
    let before: EntityRow[] = [];
    let ttlMs = 1_500;
    for (let attempt = 1; ; attempt++) {
      s = await schemaFor(`restart${attempt}`);
      // Claims that outlast any heartbeat's delay, even on a loaded machine: a close runs twice
      // only after a crash. (Nothing waits for a claim to end: the creator dies before any.)
      options = config(s, { claimTimeoutMs: 30_000, pauseTimeoutMs: 3_000 });
      const [creator] = await hire(1);
      await creator!.open(options);
      const created = Date.now();
      expect(await creator!.request('create', { ids, ttlMs: [ttlMs], gapMs: 0 })).toBe(ids.length);
      await creator!.kill();
      const killedAfter = Date.now() - created;
      const early = (await closesOf(s)).length;
      before = await entitiesOf(s);
      const due = before.filter((e) => e.state !== 'active').length;
      if (early === 0 && due === 0) break;
      const reason = `the creator was killed ${killedAfter} ms after creating, past the ${ttlMs} ms deadlines (it closed ${early}, claimed ${due})`;
      if (attempt === 3) {
        console.warn(`test/durable/processes.test.ts restart test skipped: ${reason}; the machine is too loaded to set the scene`);
        context.skip(`${reason}: the machine is too loaded to set the scene`);
      }
      ttlMs = 4 * killedAfter;
      console.warn(`test/durable/processes.test.ts restart test: ${reason}; again with ${ttlMs} ms deadlines`);
    }
    expect(before.map((e) => [e.id, e.state])).toEqual(ids.map((id) => [id, 'active']));

    const last = Math.max(...before.map((e) => e.deadline));
    await waitFor('the deadlines to pass', async () => (await dbNow()) > last + 100, CEILING, 20);
    // Two new processes start at once, race for the past-due rows.
    await Promise.all([r1!.open(options), r2!.open(options)]);
    await waitFor(
      'every close to finish and complete',
      async () =>
        (await entitiesOf(s)).length === 0 && (await closesOf(s)).filter((c) => c.finished !== null).length >= ids.length,
      CEILING,
      50,
      async () => ({ closes: await closesOf(s), entities: await entitiesOf(s), now: await dbNow() }),
    );
    await sleep(400); // two more polls of both: nothing closes again

    const closes = await closesOf(s);
    expect(closes.map((c) => [c.id, c.generation]).sort()).toEqual(before.map((e) => [e.id, e.generation]).sort());
    for (const close of closes) {
      expect([r1!.pid, r2!.pid]).toContain(close.pid);
      expect(close.started).toBeGreaterThanOrEqual(close.deadline);
      expect(close.row_state).toBe('expired.closing');
    }
  });

  it('processes whose clocks are off by ±10 minutes close { ttlMs } entities on time, by the database clock', async () => {
    const s = await schemaFor('skew');
    const [ahead] = await hire(1, TEN_MINUTES);
    const [behind] = await hire(1, -TEN_MINUTES);
    // Each alone in its namespace, so each must be on time by itself. Polling far beyond
    // the test: only its timer, aimed through the database's clock, wakes it.
    const options = config(s, { pollIntervalMs: 20_000, claimTimeoutMs: 3_000, pauseTimeoutMs: 3_000 });
    const [aheadOpened, behindOpened] = await Promise.all([
      ahead!.open({ ...options, namespace: 'ahead' }),
      behind!.open({ ...options, namespace: 'behind' }),
    ]);
    expect(Math.abs(aheadOpened.skewMs - TEN_MINUTES)).toBeLessThan(5_000);
    expect(Math.abs(behindOpened.skewMs + TEN_MINUTES)).toBeLessThan(5_000);

    const ttlMs = [150, 300, 450, 600, 750, 900, 1_050, 1_200];
    await Promise.all([
      ahead!.request('create', { ids: ttlMs.map((_, i) => `ahead${i}`), ttlMs, gapMs: 0 }),
      behind!.request('create', { ids: ttlMs.map((_, i) => `behind${i}`), ttlMs, gapMs: 0 }),
    ]);
    await waitFor('every close', async () => (await closesOf(s)).length === 2 * ttlMs.length, CEILING, 50, () => closesOf(s));

    const closes = await closesOf(s);
    const lateness = closes.map((c) => `${c.id}: ${Math.round(c.started - c.deadline)}`);
    expect(Math.min(...closes.map((c) => c.started - c.deadline)), `lateness ${lateness}`).toBeGreaterThanOrEqual(0);
    // On time: not by polling (every 20 s here, a close it found would be seconds late), but by
    // the timer aimed through the database's clock. A loaded machine delays a timer by a
    // second or two; a quarter of the poll interval tells the two apart all the same.
    expect(Math.max(...closes.map((c) => c.started - c.deadline)), `lateness ${lateness}`).toBeLessThan(5_000);
    expect(new Set(closes.map((c) => c.id)).size).toBe(2 * ttlMs.length);
    for (const close of closes) expect(close.pid).toBe(close.id.startsWith('ahead') ? ahead!.pid : behind!.pid);
  });

  it('a claim or a pause whose COMMIT reply was lost is not held forever by a heartbeat of the process that lost it', async () => {
    // The server committed; the client saw the connection drop (a reset right
    // after COMMIT): the call failed, so this process runs no close and holds
    // no pause. The lease it was given must then run out like a dead process's.
    const s = await schemaFor('doubt');
    const [p, other] = await hire(2);
    // Each row is read as soon as P got its failure, and must still be P's then: leases
    // long enough for that read on a loaded machine, short enough to wait for them to end.
    const LEASE = 3 * CLAIM;
    const options = config(s, { claimTimeoutMs: LEASE, pauseTimeoutMs: LEASE });
    await p!.open({ ...options, loseCommitReply: ['claim', 'stop'] });
    const rowOf = async (id: string) => (await entitiesOf(s)).find((e) => e.id === id);
    // Due when its pause's lease ends at the latest (it is then closed at once), yet not before
    // the update below pauses it, however slowly that request gets to P.
    await p!.request('new', { id: 'paused', ttlMs: LEASE });
    await expect(p!.request('update', { id: 'paused', ttlMs: 60_000 })).rejects.toThrow(/dropped after COMMIT \(stop\)/);
    const paused = await rowOf('paused');
    await p!.request('new', { id: 'claimed', ttlMs: 0 });
    await p!.waitEvent((e) => e.event === 'lost-reply' && (e as { kind?: string }).kind === 'claim');
    const claimed = await rowOf('claimed');
    const held = [claimed!, paused!];
    // The claim is P's lease; the pause, P's as its holder (its timeout is the row's due time).
    expect(held.map((e) => [e.id, e.state, e.owner, e.holders])).toEqual([
      ['claimed', 'expired.closing', p!.owner, []],
      ['paused', 'paused', null, [p!.owner]],
    ]);
    await other!.open(options); // another process, to take over what P does not run

    // Both leases end after claimTimeoutMs / pauseTimeoutMs unless something renews them; P runs neither.
    // (P's heartbeat comes every LEASE / 3: a renewing P keeps them for good, past any wait.)
    await waitFor('both to close', async () => (await entitiesOf(s)).length === 0).catch(() => {});
    const closes = await closesOf(s);
    expect(
      { closed: closes.map((c) => c.id).sort(), left: (await entitiesOf(s)).map((e) => `${e.id}: ${e.state}, lease until ${e.lease_until}, due ${e.due}, owner ${e.owner === p!.owner ? 'P' : e.owner}, holders ${e.holders}`) },
      'P renews leases it does not act on: its heartbeat extends every lease it owns in the database',
    ).toEqual({ closed: ['claimed', 'paused'], left: [] });
  });

  it('a worker frozen inside a claiming transaction does not keep its rows from the others past claimTimeoutMs', async () => {
    // Its event loop blocked (a GC pause, a busy loop, a frozen VM) after its
    // claim's UPDATE and before COMMIT: the row stays locked by an open
    // transaction on a connection that looks alive, and `FOR UPDATE SKIP
    // LOCKED` skips it. Nothing ends that transaction unless the store does
    // (e.g. `SET LOCAL idle_in_transaction_session_timeout`).
    const s = await schemaFor('freeze');
    const [p, other] = await hire(2);
    await p!.open(config(s, { freezeInClaimMs: 6_000 }));
    await p!.request('new', { id: 'x', ttlMs: 0 });
    await p!.waitEvent((e) => e.event === 'freezing');
    await waitFor('P to hold its transaction open', async () => {
      const [row] = await q<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`,
        [`worker_${p!.pid}`],
      );
      return row!.n > 0;
    });
    const frozenAt = await dbNow();
    await other!.open(config(s));
    // Before P thaws (6 s), or P would close it itself: a busy machine may add seconds to
    // the claim timeout, but only a lock that outlives claimTimeoutMs makes it wait for P.
    await waitFor('x to close', async () => (await closesOf(s)).length > 0, 4.5 * CLAIM).catch(() => {});
    const closes = await closesOf(s);
    const [row] = await entitiesOf(s);
    const waited = Math.round((await dbNow()) - frozenAt);
    await p!.kill(); // no need to wait for it to thaw
    expect(
      closes.map((c) => (c.pid === other!.pid ? 'other' : 'P')),
      `${waited} ms after P froze, x is ${row ? `${row.state}, due ${Math.round(row.due! - frozenAt)} ms after the freeze, locked by P's open transaction` : 'gone'}`,
    ).toEqual(['other']);
    expect(closes[0]!.started - frozenAt).toBeLessThan(4 * CLAIM);
  });

  it('PostgreSQL SIGKILLed (fsync on) while workers run, restarted on its data dir: nothing lost, nothing closed twice', async (context) => {
    const s = await schemaFor('crash');
    // Nothing here waits for a claim to run out, so a long one costs no time: it only
    // has to outlive the outage, which a loaded machine stretches (recovery is CPU).
    const CLAIM_MS = 30_000;
    const workers = await hire(2);
    // A claim outlives the outage (its owner renews it once the server is back: a close then
    // runs once, not merely at least once); pauses are short, so heartbeats come every 500 ms.
    await Promise.all(
      workers.map((w) => w.open(config(s, { claimTimeoutMs: CLAIM_MS, pauseTimeoutMs: 1_500, closer: { holdMs: [100, 400] } }))),
    );
    const ttlMs = [100, 400, 700, 1_000, 1_300, 1_600];
    const creating = workers.map((w, n) =>
      w
        .request('create', { ids: Array.from({ length: 1_000 }, (_, i) => `w${n}-${i}`), ttlMs, gapMs: 10 })
        .catch((error: Error) => error),
    );
    // Entities pending and closes running: then the crash.
    let pending = 0;
    let running = 0;
    await waitFor('entities pending and closes running', async () => {
      const [row] = await q<{ pending: number; running: number }>(
        `SELECT (SELECT count(*)::int FROM ${s}.entities WHERE live) AS pending,
                (SELECT count(*)::int FROM ${s}.closes WHERE finished IS NULL) AS running`,
      );
      ({ pending, running } = row!);
      return pending >= 10 && running >= 1;
    }, CEILING, 20);
    const port = server.port;
    const crashedAt = Date.now();
    await server.kill();
    await sleep(300);
    server = await server.restart();
    const outageMs = Date.now() - crashedAt;
    expect(server.port).toBe(port);
    const ackedBeforeRestart = workers.reduce((n, w) => n + w.events.filter((e) => e.event === 'created').length, 0);
    await sleep(300); // creating on after the restart
    // The workers lived through the outage (errors reported, not thrown).
    for (const worker of workers) expect(worker.alive, `worker ${worker.pid} died:\n${worker.stderr}`).toBe(true);
    await Promise.all(workers.map((w) => w.request('stop-creating')));
    for (const created of await Promise.all(creating)) expect(created).toBeTypeOf('number');

    const acked = workers.flatMap((w) => w.events.filter((e) => e.event === 'created').map((e) => e.id!));
    await waitFor(
      'every entity to close',
      async () => !workers.every((w) => w.alive) || (await entitiesOf(s)).length === 0,
      CEILING,
      100,
    );
    for (const worker of workers) expect(worker.alive, `worker ${worker.pid} died:\n${worker.stderr}`).toBe(true);

    const closes = await closesOf(s);
    const byId = new Map<string, CloseRow[]>();
    for (const close of closes) byId.set(close.id, [...(byId.get(close.id) ?? []), close]);
    expect(pending).toBeGreaterThanOrEqual(10);
    expect(running).toBeGreaterThanOrEqual(1);
    expect(ackedBeforeRestart).toBeGreaterThanOrEqual(10);
    expect(acked.length).toBeGreaterThan(ackedBeforeRestart); // created again once the server was back
    // Nothing lost: every acknowledged creation closed…
    expect(acked.filter((id) => !byId.has(id))).toEqual([]);
    // …every invocation finished…
    expect(closes.filter((c) => c.finished === null).map((c) => c.id)).toEqual([]);
    // …and nothing twice: one invocation per entity, since each running close's claim outlived
    // the outage. That is promised only for an outage well short of the claim timeout (after a
    // longer one another worker may take a running close over: at least once, checked above).
    // The outage is the disturbance this test caused; how long it lasts is the machine's doing,
    // so it is measured: too long, and exactly once cannot be told here. Skipped, saying why.
    const twice = [...byId].filter(([, list]) => list.length !== 1);
    console.log(`crash test: PostgreSQL's kill and restart took ${outageMs} ms (claim timeout ${CLAIM_MS} ms)`);
    if (outageMs >= CLAIM_MS / 2) {
      const reason =
        `exactly once not checked: the machine is too loaded to tell, PostgreSQL's kill and restart took ${outageMs} ms, ` +
        `not well short of the ${CLAIM_MS} ms claim timeout (${twice.length} entities closed more than once; nothing lost)`;
      console.warn(`test/durable/processes.test.ts crash test: ${reason}`);
      context.skip(reason);
    }
    expect(twice.map(([id]) => id), `closed twice after a ${outageMs} ms outage: ${JSON.stringify(twice)}`).toEqual([]);
  }, 3 * CEILING);
});
