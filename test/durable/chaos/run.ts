/**
 * The chaos run: worker processes (chaos/worker.ts) running the Go protocol on one
 * PostgreSQL server while the run SIGKILLs, SIGSTOPs and gracefully restarts them,
 * and SIGKILLs and restarts the server once; then quiescence, and the verdict
 * (verdict.ts) over the ledger and the audit (ledger.ts).
 *
 * Shared by test/durable/chaos.test.ts (a short run in CI) and scripts/chaos.ts
 * (`npm run chaos -- --seconds 300 --seed N`). Every process it starts is killed
 * by its PID whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createDurableExpireManager, postgresStore } from '../../../src/durable/index.js';
import { bundled } from '../../support/bundle.js';
import { type PostgresServer, startPostgres } from '../../support/postgres.js';
import { LEDGER_SCHEMA, NOW, type Records, auditSchema, readRecords } from './ledger.js';
import { random } from './random.js';
import { type Verdict, judge } from './verdict.js';
import type { ChaosWorkerConfig } from './worker.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** worker.ts, bundled: each worker starts on plain `node` (see test/support/bundle.ts). */
const WORKER = bundled('chaos-worker');

/** What a chaos run does. */
export interface ChaosOptions {
  seed: number;
  /** How long the chaos lasts (the run takes longer: start, quiescence, verdict). */
  seconds: number;
  /** Worker processes (each a slot of ids). Default 3. */
  workers?: number;
  /** How many ids. Default 24. */
  ids?: number;
  /** Default 1500 ms. */
  claimTimeoutMs?: number;
  /** Default 1500 ms. */
  pauseTimeoutMs?: number;
  /** Default 200 ms. */
  pollIntervalMs?: number;
  /** Mean time between chaos actions. Default 800 ms. */
  actionEveryMs?: number;
  /**
   * The server's `default_transaction_isolation` (default: PostgreSQL's, read committed).
   * The library must state what it needs in each transaction (issue 15, item 7).
   */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a run found. */
export interface ChaosResult {
  seed: number;
  verdict: Verdict;
  records: Records;
  /** Each worker's counts of calls by kind and result. */
  stats: Array<Record<string, number>>;
  /** Failed calls (other than injected failures), by message. */
  errors: Record<string, number>;
  /** Chaos actions by kind. */
  actions: Record<string, number>;
  /** How long the server was down, in ms. */
  outageMs: number | undefined;
  wallMs: number;
}

/** A worker process over IPC. */
class Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  stopped = false;
  /** Opening or reopening its manager: the chaos leaves it alone meanwhile (a harness race otherwise). */
  busy = false;
  #stderr = '';
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor() {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['NODE_OPTIONS'];
    this.child = spawn(process.execPath, [WORKER], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk).slice(-4_000)));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const { reject } of this.#pending.values()) reject(new Error(`worker ${this.pid} exited. stderr:\n${this.#stderr}`));
      this.#pending.clear();
    });
    this.ready = new Promise((resolve, reject) => {
      void this.exited.then(() => reject(new Error(`worker exited before it was ready. stderr:\n${this.#stderr}`)));
      this.child.on('message', (message: { type: string; seq?: number; ok?: boolean; value?: unknown; error?: string }) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'reply') {
          const pending = this.#pending.get(message.seq!);
          this.#pending.delete(message.seq!);
          if (message.ok) pending?.resolve(message.value);
          else pending?.reject(new Error(`worker ${this.pid}: ${message.error}`));
        }
      });
    });
    this.ready.catch(() => {});
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  request<T = unknown>(op: string, fields: object = {}, timeoutMs = 30_000): Promise<T> {
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`worker ${this.pid}: ${op} took over ${timeoutMs} ms. stderr:\n${this.#stderr}`));
      }, timeoutMs);
      this.#pending.set(seq, {
        resolve: (value) => (clearTimeout(timer), resolve(value as T)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.child.send({ seq, op, ...fields });
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

/** Runs the chaos, and judges it. Rejects only when the harness itself fails (a server that will not start). */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const { seed, seconds } = options;
  const log = (line: string) => options.log?.(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const count = options.workers ?? 3;
  const claimTimeoutMs = options.claimTimeoutMs ?? 1_500;
  const pauseTimeoutMs = options.pauseTimeoutMs ?? 1_500;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const actionEveryMs = options.actionEveryMs ?? 800;
  const rnd = random(seed);
  const ids = Array.from({ length: options.ids ?? 24 }, (_, i) => `e${i}`);
  const all: Worker[] = [];
  const hire = () => {
    const worker = new Worker();
    all.push(worker);
    return worker;
  };
  let sut: PostgresServer | undefined;
  let ledgerServer: PostgresServer | undefined;
  let ledger: pg.Pool | undefined;
  let admin: pg.Pool | undefined;
  const actions: Record<string, number> = {};
  const stats: Array<Record<string, number>> = [];
  let outageMs: number | undefined;
  try {
    // Workers load (tsx, xstate, pg: seconds on a busy machine) while the servers start.
    const slots: Worker[] = Array.from({ length: count }, hire);
    let spare = hire();
    [sut, ledgerServer] = await Promise.all([
      startPostgres({ fsync: true, settings: options.isolation ? { default_transaction_isolation: options.isolation } : {} }),
      startPostgres({ fsync: false }),
    ]);
    log('chaos: servers up');
    ledger = new pg.Pool({ connectionString: ledgerServer.connectionString, max: 3 });
    ledger.on('error', () => {});
    await ledger.query(LEDGER_SCHEMA);
    admin = new pg.Pool({ connectionString: sut.connectionString, max: 2 });
    admin.on('error', () => {}); // the server is killed under it
    const schema = 'chaos';
    const namespace = 'chaos';
    // The schema, made as users make it (a manager opens it), then audited.
    const setup = await createDurableExpireManager({
      store: postgresStore({ connectionString: sut.connectionString, schema }),
      closers: { lease: () => {} },
      namespace: 'setup',
    });
    await setup.dispose();
    for (const statement of auditSchema(schema)) await admin.query(statement);

    const record = async (kind: string, pid: number | null, detail?: string) => {
      actions[kind] = (actions[kind] ?? 0) + 1;
      await ledger!.query(`INSERT INTO actions (at, kind, pid, detail) VALUES (${NOW}, $1, $2, $3)`, [kind, pid, detail ?? null]);
    };
    let incarnation = 0;
    const configOf = (slot: number): ChaosWorkerConfig => ({
      connectionString: sut!.connectionString,
      ledger: ledgerServer!.connectionString,
      schema,
      namespace,
      slot,
      ids: ids.filter((_, i) => i % count === slot),
      seed: seed * 1_000 + incarnation++,
      claimTimeoutMs,
      pauseTimeoutMs,
      pollIntervalMs,
      loops: 2,
      ttlMs: [30, 600],
      closeMs: [0, 300],
      updateMs: [0, 200],
    });
    const start = async (worker: Worker, slot: number) => {
      worker.busy = true;
      try {
        await worker.ready;
        await worker.request('open', { config: configOf(slot) });
        await record('spawn', worker.pid, `slot ${slot}`);
        await worker.request('run');
      } finally {
        worker.busy = false;
      }
    };
    await Promise.all(slots.map((worker, slot) => start(worker, slot)));
    log(`chaos: seed ${seed}, ${count} workers on ${ids.length} ids, ${seconds} s`);

    // The chaos.
    // `seconds` of chaos with the server up: the outage extends it.
    let until = Date.now() + seconds * 1_000;
    // The server's crash, once, at a random time of the chaos, whatever the workers are doing then.
    const crashInMs = (0.3 + 0.3 * rnd()) * seconds * 1_000;
    const downMs = 200 + Math.floor(rnd() * 800);
    const crash = (async () => {
      await sleep(crashInMs);
      const port = sut!.port;
      await record('server-kill', sut!.pid);
      const down = Date.now();
      await sut!.kill();
      await sleep(downMs);
      sut = await sut!.restart();
      outageMs = Date.now() - down;
      until += outageMs;
      await record('server-up', sut.pid, `port ${sut.port}${sut.port === port ? '' : ` (was ${port}: workers cannot reconnect)`}`);
      log(`chaos: server crashed and restarted, ${outageMs} ms down`);
    })();
    crash.catch(() => {}); // awaited after the chaos
    const conts = new Set<Promise<void>>();
    const replacing = new Set<Promise<void>>();
    while (Date.now() < until) {
      await sleep(Math.floor(actionEveryMs * (0.5 + rnd())));
      const slot = Math.floor(rnd() * count);
      const worker = slots[slot]!;
      const roll = rnd();
      if (!worker.alive || worker.stopped || worker.busy) continue;
      if (roll < 0.3) {
        // A stall: some shorter than a claim, some longer.
        const stallMs = 100 + Math.floor(rnd() * 2.5 * claimTimeoutMs);
        await record('stop', worker.pid, `${stallMs} ms`);
        worker.signal('SIGSTOP');
        worker.stopped = true;
        const cont = (async () => {
          await sleep(stallMs);
          worker.signal('SIGCONT');
          worker.stopped = false;
          await record('cont', worker.pid);
        })();
        conts.add(cont);
        void cont.finally(() => conts.delete(cont));
      } else if (roll < 0.5) {
        await record('kill', worker.pid);
        await worker.kill();
        // Its slot goes on in the spare, already loaded; a new spare loads.
        const next = spare;
        spare = hire();
        slots[slot] = next;
        const replace = start(next, slot).catch((error: Error) => log(`chaos: replacement failed: ${error.message}`));
        replacing.add(replace);
        void replace.finally(() => replacing.delete(replace));
      } else if (roll < 0.7) {
        // A graceful restart: calls end, dispose(), a new manager in the same process.
        await record('dispose', worker.pid);
        worker.busy = true;
        try {
          const { owner } = await worker.request<{ owner: string }>('reopen', {}, 20_000);
          await record('reopened', worker.pid, owner);
        } catch (error) {
          await record('kill', worker.pid, `reopen failed: ${(error as Error).message.slice(0, 200)}`);
          await worker.kill();
        } finally {
          worker.busy = false;
        }
      }
    }
    await crash;
    await Promise.all([...conts, ...replacing]);
    log('chaos: over; finishing the calls');

    // Quiescence: calls end, then every entity's deadline passes and its close completes.
    for (const worker of slots) {
      if (!worker.alive) continue;
      try {
        stats.push(await worker.request<Record<string, number>>('finish', {}, 30_000));
      } catch (error) {
        log(`chaos: finish failed, killing ${worker.pid}: ${(error as Error).message.slice(0, 200)}`);
        await record('kill', worker.pid, 'finish timed out');
        await worker.kill();
      }
    }
    const ceiling = Date.now() + 20_000 + 2 * Math.max(claimTimeoutMs, pauseTimeoutMs);
    for (;;) {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.entities`).catch(() => ({ rows: [{ n: -1 }] }));
      if (rows[0].n === 0 || Date.now() > ceiling) break;
      await sleep(100);
    }
    log('chaos: quiescent');
    // Two more polls of every worker: nothing closes again.
    await sleep(2 * pollIntervalMs + 100);
    await Promise.all(
      slots.map(async (worker) => {
        if (!worker.alive) return;
        try {
          await worker.request('dispose', {}, 15_000);
        } catch {
          await worker.kill();
        }
      }),
    );
    log('chaos: workers disposed; judging');
    const query = (pool: pg.Pool) => async (sql: string) => (await pool.query(sql)).rows;
    const records = await readRecords(query(ledger), query(admin), schema);
    const verdict = judge(records, { claimTimeoutMs, pauseTimeoutMs });
    const errors: Record<string, number> = {};
    for (const op of records.ops) {
      if (!op.result?.startsWith('error')) continue;
      const message = op.result.slice(7, 90).replace(/\d+/g, 'N');
      errors[message] = (errors[message] ?? 0) + 1;
    }
    return { seed, verdict, records, stats, errors, actions, outageMs, wallMs: Date.now() - started };
  } finally {
    await Promise.all(all.map((worker) => worker.kill()));
    await ledger?.end().catch(() => {});
    await admin?.end().catch(() => {});
    for (const server of [sut, ledgerServer]) {
      await server?.kill().catch(() => {});
      await server?.stop().catch(() => {});
    }
  }
}
