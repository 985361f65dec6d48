/**
 * `npm run bench`: xstate-expire against the hand-rolled Go port (the baseline),
 * @isaacs/ttlcache and a naive XState design, in one run on this machine.
 * `npm run bench -- --write` also rewrites docs/benchmarks.md.
 * `--quick` runs smaller sizes (a smoke test, not for the docs).
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { TTLCache } from '@isaacs/ttlcache';
import { Bench } from 'tinybench';
import { createExpireManager } from '../src/index.js';
import { HandRolledManager } from './hand-rolled.js';
import { createNaive } from './naive-xstate.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
const N = quick ? 20_000 : 100_000;
const SMALL = N / 10;
const HUGE = quick ? 0 : 1_000_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench does)');

type Close = (signal: AbortSignal) => unknown;
interface Subject {
  create(id: string, deadline: number, close: Close): void;
  /** One update cycle: pause, then re-arm with a new deadline (Go: Stop → New). */
  cycle(id: string, deadline: number, close: Close): void;
  dispose(): unknown;
}
type Name = 'hand-rolled' | 'xstate-expire' | 'ttlcache';

/** The hand-rolled manager and the library share the Go API: one adapter for both. */
const goApi = (m: Pick<HandRolledManager, 'new' | 'stop' | 'dispose'>): Subject => ({
  create: (id, deadline, close) => m.new(id, deadline, close),
  cycle: (id, deadline, close) => {
    m.stop(id);
    m.new(id, deadline, close);
  },
  dispose: () => m.dispose(),
});

const subjects: Record<Name, () => Subject> = {
  'hand-rolled': () => goApi(new HandRolledManager()),
  'xstate-expire': () => goApi(createExpireManager({ onCloseError: (id, e) => console.error(id, e) })),
  // TTL plus dispose: it cannot pause, so its update cycle is a refresh (set with a new TTL).
  ttlcache: () => {
    const scope = new AbortController();
    const cache = new TTLCache<string, Close>({
      dispose: (close, _key, reason) => void (reason === 'stale' && close(scope.signal)),
    });
    const ttl = (deadline: number) => Math.max(1, Math.ceil(deadline - Date.now()));
    return {
      create: (id, deadline, close) => void cache.set(id, close, { ttl: ttl(deadline) }),
      cycle: (id, deadline, close) => void cache.set(id, close, { ttl: ttl(deadline) }),
      dispose: () => cache.clear(),
    };
  },
};
const names = Object.keys(subjects) as Name[];
const ids = Array.from({ length: Math.max(N, HUGE) }, (_, i) => `lease-${i}`);
const noop: Close = () => {};
const far = () => Date.now() + 3_600_000;

/** Median milliseconds of `fn` over tinybench iterations, with setup outside the timing. */
async function median(
  fn: () => unknown,
  { iterations, warmup = 1, before, after }: { iterations: number; warmup?: number; before?: () => void; after?: () => unknown },
): Promise<number> {
  const bench = new Bench({ iterations, time: 0, warmupIterations: warmup, warmupTime: 0, warmup: warmup > 0 });
  bench.add('task', fn, { beforeEach: before, afterEach: async () => void (await after?.()) });
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { p50?: number } };
  return result.latency!.p50!;
}

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function createTime(name: Name, n: number): Promise<number> {
  let subject: Subject;
  const deadline = far();
  return median(
    () => {
      for (let i = 0; i < n; i++) subject.create(ids[i]!, deadline + i, noop);
    },
    {
      iterations: n >= HUGE && HUGE ? 1 : n >= N ? 3 : 7,
      warmup: n >= N ? 0 : 1,
      before: () => void (subject = subjects[name]()),
      after: () => subject.dispose(),
    },
  );
}

async function heapPerEntity(name: Name, n: number): Promise<number> {
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const subject = subjects[name]();
  const deadline = far();
  for (let i = 0; i < n; i++) subject.create(ids[i]!, deadline + i, noop);
  gc!();
  gc!();
  const bytes = (process.memoryUsage().heapUsed - before) / n;
  await subject.dispose();
  return bytes;
}

async function cyclesPerSecond(name: Name): Promise<number> {
  const subject = subjects[name]();
  const deadline = far();
  for (let i = 0; i < N; i++) subject.create(ids[i]!, deadline, noop);
  const batch = SMALL * 2;
  let round = 0;
  const ms = await median(
    () => {
      const next = deadline + ++round;
      for (let i = 0; i < batch; i++) subject.cycle(ids[i]!, next, noop);
    },
    { iterations: 5, warmup: 1 },
  );
  await subject.dispose();
  return (batch / ms) * 1000;
}

/** Expiry lateness: N deadlines spread over 5 s, starting after creation is done. */
async function lateness(name: Name): Promise<{ p50: number; p99: number; max: number }> {
  const runs: Array<{ p50: number; p99: number; max: number }> = [];
  for (let run = 0; run < 3; run++) {
    const subject = subjects[name]();
    const late = new Float64Array(N);
    let closed = 0;
    const start = Date.now() + 4_000;
    const done = new Promise<void>((resolve) => {
      for (let i = 0; i < N; i++) {
        const deadline = start + Math.floor((i / N) * 5_000);
        subject.create(ids[i]!, deadline, () => {
          late[i] = Date.now() - deadline;
          if (++closed === N) resolve();
        });
      }
    });
    const keepAlive = setInterval(() => {}, 1000);
    await done;
    clearInterval(keepAlive);
    await subject.dispose();
    const sorted = Array.from(late).sort((a, b) => a - b);
    runs.push({ p50: sorted[Math.floor(N * 0.5)]!, p99: sorted[Math.floor(N * 0.99)]!, max: sorted[N - 1]! });
    gc!();
  }
  return { p50: middle(runs.map((r) => r.p50)), p99: middle(runs.map((r) => r.p99)), max: middle(runs.map((r) => r.max)) };
}

/** Closes per second when N entities expire at the same instant. */
async function closeThroughput(name: Name): Promise<number> {
  const rates: number[] = [];
  for (let run = 0; run < 3; run++) {
    const subject = subjects[name]();
    const at = Date.now() + 4_000;
    let closed = 0;
    let last = 0;
    const done = new Promise<void>((resolve) => {
      for (let i = 0; i < N; i++) {
        subject.create(ids[i]!, at, () => {
          last = performance.now() + performance.timeOrigin;
          if (++closed === N) resolve();
        });
      }
    });
    const keepAlive = setInterval(() => {}, 1000);
    await done;
    clearInterval(keepAlive);
    await subject.dispose();
    rates.push(N / ((last - at) / 1000));
    gc!();
  }
  return middle(rates);
}

async function disposeTime(name: Name): Promise<number> {
  let subject: Subject;
  return median(async () => void (await subject.dispose()), {
    iterations: 3,
    warmup: 0,
    before: () => {
      subject = subjects[name]();
      const deadline = far();
      for (let i = 0; i < N; i++) subject.create(ids[i]!, deadline + i, noop);
    },
  });
}

const k = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const results: Record<string, Partial<Record<Name | 'naive', string>> & { ratio?: Partial<Record<Name, string>> }> = {};
const raw: Record<string, Partial<Record<Name, number>>> = {};

async function row(label: string, measure: (name: Name) => Promise<number>, format: (v: number) => string, higherIsBetter = false, only: Name[] = names) {
  raw[label] = {};
  results[label] = { ratio: {} };
  for (const name of only) {
    process.stdout.write(`  ${label}: ${name}…`);
    const value = await measure(name);
    raw[label]![name] = value;
    results[label]![name] = format(value);
    process.stdout.write(` ${format(value)}\n`);
  }
  const base = raw[label]!['hand-rolled'];
  for (const name of only) {
    const value = raw[label]![name];
    if (base === undefined || value === undefined) continue;
    // "× baseline": how many times the baseline's cost (time, bytes) or its inverse for rates.
    const ratio = higherIsBetter ? base / value : value / base;
    results[label]!.ratio![name] = `${ratio.toFixed(ratio < 10 ? 2 : 1)}×`;
  }
}

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
console.log(`xstate-expire benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}${quick ? ' (quick)' : ''}`);

await row(`create ${k(SMALL)}`, (n) => createTime(n, SMALL), ms);
await row(`create ${k(N)}`, (n) => createTime(n, N), ms);
if (HUGE) await row(`create ${k(HUGE)}`, (n) => createTime(n, HUGE), ms);
await row(`heap per live entity (${k(N)})`, (n) => heapPerEntity(n, N), (v) => `${Math.round(v)} B`);
if (HUGE) await row(`heap per live entity (${k(HUGE)})`, (n) => heapPerEntity(n, HUGE), (v) => `${Math.round(v)} B`);
await row(`update cycles/s (stop → new, ${k(N)} live)`, cyclesPerSecond, (v) => `${Math.round(v).toLocaleString('en')}/s`, true);
const late: Partial<Record<Name, { p50: number; p99: number; max: number }>> = {};
await row(
  `expiry lateness p99 (${k(N)} over 5 s)`,
  async (n) => (late[n] = await lateness(n)).p99,
  (v) => `${v} ms`,
);
results[`expiry lateness p50 / max`] = Object.fromEntries(names.map((n) => [n, `${late[n]!.p50} / ${late[n]!.max} ms`]));
await row(`closes/s (${k(N)} expiring together)`, closeThroughput, (v) => `${Math.round(v).toLocaleString('en')}/s`, true);
await row(`dispose ${k(N)}`, disposeTime, ms);

// The naive design, at sizes where it still finishes.
const naive: Record<number, number> = {};
for (const n of quick ? [500, 1000] : [500, 1000, 2000]) {
  const t = performance.now();
  createNaive(n, far());
  naive[n] = performance.now() - t;
}
const naiveSizes = Object.keys(naive).map(Number);
const [n0, n1] = [naiveSizes[0]!, naiveSizes.at(-1)!];
results[`create ${k(SMALL)}`]!.naive = `${ms(naive[n0]!)} at ${k(n0)}, ${ms(naive[n1]!)} at ${k(n1)}: ${(naive[n1]! / naive[n0]!).toFixed(1)}× for ${n1 / n0}× the entities`;

// The table.
const header = '| workload | hand-rolled (baseline) | xstate-expire | × baseline | @isaacs/ttlcache | × baseline |';
const lines = [header, '| --- | --- | --- | --- | --- | --- |'];
for (const [label, r] of Object.entries(results)) {
  lines.push(`| ${label} | ${r['hand-rolled'] ?? '—'} | ${r['xstate-expire'] ?? '—'} | ${r.ratio?.['xstate-expire'] ?? ''} | ${r.ttlcache ?? '—'} | ${r.ratio?.ttlcache ?? ''} |`);
}
const naiveLine = `Naive XState (one parent machine that \`spawnChild\`s every entity): ${results[`create ${k(SMALL)}`]!.naive}.`;

const createSmall = raw[`create ${k(SMALL)}`]!['xstate-expire']!;
const createN = raw[`create ${k(N)}`]!['xstate-expire']!;
const targets = [
  [`create ${k(N)} ≤ 2 s`, createN <= 2000, ms(createN)],
  [`linear: ${k(N)}/${k(SMALL)} ≤ 12×`, createN / createSmall <= 12, `${(createN / createSmall).toFixed(1)}×`],
  ['≤ 3 KB per live entity', raw[`heap per live entity (${k(N)})`]!['xstate-expire']! <= 3072, results[`heap per live entity (${k(N)})`]!['xstate-expire']],
  ['≥ 50k stop → new cycles/s', raw[`update cycles/s (stop → new, ${k(N)} live)`]!['xstate-expire']! >= 50_000, results[`update cycles/s (stop → new, ${k(N)} live)`]!['xstate-expire']],
  [`expiry lateness p99 ≤ 20 ms at ${k(N)}`, late['xstate-expire']!.p99 <= 20, `${late['xstate-expire']!.p99} ms`],
] as const;
const targetLines = targets.map(([what, ok, value]) => `- ${ok ? 'met' : 'NOT met'}: ${what} (measured ${value})`);

console.log(`\n${lines.join('\n')}\n\n${naiveLine}\n\nTargets:\n${targetLines.join('\n')}`);

if (write) {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  writeFileSync(
    new URL('../docs/benchmarks.md', import.meta.url),
    `# Benchmarks

Measured by \`npm run bench -- --write\` on ${machine}, ${new Date().toISOString().slice(0, 10)}.
Ratios are against the hand-rolled baseline measured in the same run: for times and bytes,
how many times its cost; for rates, how many times slower (2× = half the baseline's rate).

${lines.join('\n')}

${naiveLine}

## Targets of this round

${targetLines.join('\n')}

Where the remaining gaps come from, with profile evidence, and what would close them:
[design.md](design.md#where-the-time-goes-and-what-would-close-the-gap).

## What is measured

- **hand-rolled**: \`bench/hand-rolled.ts\`, the Go algorithm over a \`Map\` of native timers
  with the same five calls — what a user would write instead.
- **xstate-expire**: the public facade with its defaults (timer heap clock, a serial
  executor per id created when an entity expires).
- **@isaacs/ttlcache**: TTL plus \`dispose\`, on the workloads it can do; it cannot pause, so
  its update cycle is a refresh (\`set\` with a new TTL).
- create: \`new\` for N entities into a fresh manager (tinybench, median of 7 / 3 / 1 runs;
  disposal not timed). Heap: \`heapUsed\` after two forced GCs, divided by N.
- update cycles: with N live, \`stop(id)\` then \`new(id, deadline)\` for ${k(SMALL * 2)} ids per sample (median of 5).
- expiry lateness: N deadlines spread evenly over 5 s on the real clock, starting after
  creation; lateness = when the close is called − the deadline (median of 3 runs).
- closes/s: N entities with one deadline; N ÷ (last close − deadline) (median of 3 runs).
- dispose: \`dispose()\` with N live (median of 3).

## Reproduce

\`\`\`sh
npm install
npm run bench               # prints the table (about 3 minutes)
npm run bench -- --write    # and rewrites this file
\`\`\`

Profiles: \`node --cpu-prof --expose-gc --import tsx bench/run.ts --quick\`.
`,
  );
  console.log('\nwrote docs/benchmarks.md');
}
process.exit(0);
