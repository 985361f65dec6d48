/**
 * `npm run bench:durable:profile`: where the time of a durable call goes, on a
 * PostgreSQL 15 server this script starts (fsync on, `pg_stat_statements`
 * loaded) and stops. For `new`, `stop` + `start` and a close, and for the raw
 * single-row commit loop beside them: the statements (each one round trip:
 * node-postgres does not pipeline) and transactions per call, the server's
 * execution time per call, the commit's WAL flush (what a raw commit costs
 * beyond its INSERT), and the rest — client, protocol and network.
 *
 * `pg_stat_statements` times a statement's execution; a transaction's commit
 * (the WAL flush) happens after `COMMIT` returns from it, so the flush is
 * estimated from the raw loop: its wall time per commit less its INSERT's.
 * What the manager runs in the background meanwhile (its 1 s poll) is counted
 * in, and small. `--quick` runs smaller sizes.
 */
import pg from 'pg';
import { createDurableExpireManager, postgresStore } from '../src/durable/index.js';
import { startPostgres } from '../test/support/postgres.js';

const quick = process.argv.includes('--quick');
const N = quick ? 100 : 300;
const CLOSE_N = quick ? 300 : 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const server = await startPostgres({
  fsync: true,
  settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_utility': 'on' },
});
const admin = new pg.Client({ connectionString: server.connectionString });
await admin.connect();
await admin.query('CREATE EXTENSION pg_stat_statements');

interface Statement {
  query: string;
  calls: number;
  ms: number;
}

/** Runs `phase` (whose `ops` calls are profiled) between a reset and a read of `pg_stat_statements`. */
async function profile(ops: number, phase: () => Promise<number>): Promise<{ wall: number; statements: Statement[] }> {
  await admin.query('SELECT pg_stat_statements_reset()');
  const wall = await phase();
  const { rows } = await admin.query<{ query: string; calls: string; ms: number }>(
    `SELECT query, calls, total_exec_time AS ms FROM pg_stat_statements
      WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC`,
  );
  void ops;
  return { wall, statements: rows.map((r) => ({ query: r.query.replace(/\s+/g, ' ').trim(), calls: Number(r.calls), ms: r.ms })) };
}

/** Wall ms of `fn`. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

// The raw loop: one client, single-row autocommit INSERTs.
await admin.query('CREATE TABLE raw_commit (n integer)');
const raw = await profile(N, () =>
  timed(async () => {
    for (let i = 0; i < N; i++) await admin.query('INSERT INTO raw_commit VALUES ($1)', [i]);
  }),
);
const rawInsert = raw.statements.find((s) => s.query.startsWith('INSERT INTO raw_commit'))!;
/** What a commit costs beyond its statement: the WAL flush (and its round trip's share). */
const flush = raw.wall / N - rawInsert.ms / rawInsert.calls;

const store = postgresStore({ connectionString: server.connectionString });
let closed = 0;
const manager = await createDurableExpireManager({ store, namespace: 'profile', closers: { p: () => void closed++ } });
const far = Date.now() + 3_600_000;

const phases: Array<{ name: string; ops: number; result: Awaited<ReturnType<typeof profile>> }> = [];
phases.push({ name: 'raw single-row commit', ops: N, result: raw });
phases.push({
  name: '`new` (sequential)',
  ops: N,
  result: await profile(N, () =>
    timed(async () => {
      for (let i = 0; i < N; i++) await manager.new(`e-${i}`, far + i, { closer: 'p' });
    }),
  ),
});
phases.push({
  name: '`stop` + `start`',
  ops: N,
  result: await profile(N, () =>
    timed(async () => {
      for (let i = 0; i < N; i++) {
        await manager.stop(`e-${i}`);
        await manager.start(`e-${i}`);
      }
    }),
  ),
});
// Closes: CLOSE_N due at one instant, set up before the profile; wall = first deadline → last close.
const due = Date.now() + 4_000 + CLOSE_N * 5;
for (let i = 0; i < CLOSE_N; i++) await manager.new(`c-${i}`, due, { closer: 'p' });
closed = 0;
phases.push({
  name: `a close (${CLOSE_N} due at once)`,
  ops: CLOSE_N,
  result: await profile(CLOSE_N, async () => {
    await sleep(Math.max(0, due - Date.now()));
    const t = performance.now();
    while (closed < CLOSE_N) await sleep(5);
    // The last completions land after the last close callback.
    await sleep(200);
    return performance.now() - t;
  }),
});

await manager.dispose();
await store.release().catch(() => {});
await admin.end();
await server.stop();

const f = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
console.log(`\nPostgreSQL ${server.port ? '15' : ''} (fsync on), one client; a commit's flush ≈ ${f(flush)} ms (raw loop wall ${f(raw.wall / N)} ms − its INSERT ${f(rawInsert.ms / rawInsert.calls)} ms)\n`);
console.log('| per call | wall | statements (round trips) | transactions | server execution | commit flushes (est.) | client, protocol, network |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const { name, ops, result } of phases) {
  const calls = result.statements.reduce((sum, s) => sum + s.calls, 0);
  const commits = result.statements.filter((s) => /^(COMMIT|INSERT INTO raw_commit)/.test(s.query)).reduce((sum, s) => sum + s.calls, 0);
  const exec = result.statements.reduce((sum, s) => sum + s.ms, 0);
  const wall = result.wall / ops;
  const flushes = (commits / ops) * flush;
  console.log(
    `| ${name} | ${f(wall)} ms | ${f(calls / ops)} | ${f(commits / ops)} | ${f(exec / ops)} ms | ${f(flushes)} ms | ${f(Math.max(0, wall - exec / ops - flushes))} ms |`,
  );
}
for (const { name, ops, result } of phases.slice(1)) {
  console.log(`\n${name}: statements per call (calls ÷ ${ops}), mean server ms`);
  for (const s of result.statements.filter((s) => s.calls >= ops / 20)) {
    console.log(`  ${f(s.calls / ops)} × ${f(s.ms / s.calls)} ms  ${s.query.slice(0, 110)}`);
  }
}
process.exit(0);
