/**
 * `npm run bench`: xstate-expire against the hand-rolled Go port (the baseline),
 * @isaacs/ttlcache and a naive XState design, in one run on this machine. Every
 * figure is the median of at least 3 runs; ratios are against the baseline of
 * the same run. `npm run bench -- --write` also rewrites docs/benchmarks.md.
 * `--quick` runs smaller sizes (a smoke test, not for the docs).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TTLCache } from '@isaacs/ttlcache';
import { Bench } from 'tinybench';
import { createExpireManager } from '../src/index.js';
import { HandRolledManager } from './hand-rolled.js';
import { materialized, synthetic } from './inspect-modes.js';
import { createNaive } from './naive-xstate.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
const N = quick ? 20_000 : 100_000;
const SMALL = N / 10;
const child = process.argv.includes('--cold') || process.argv.includes('--warm');
const HUGE = quick || child ? 0 : 1_000_000;
const RUNS = 3;
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
const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Lateness {
  p50: number;
  p99: number;
  max: number;
}

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

async function createTime(make: () => Subject, n: number): Promise<number> {
  let subject: Subject;
  const deadline = far();
  return median(
    () => {
      for (let i = 0; i < n; i++) subject.create(ids[i]!, deadline + i, noop);
    },
    {
      iterations: n >= N ? RUNS : 7,
      warmup: n >= N ? 0 : 1,
      before: () => void (subject = make()),
      after: () => subject.dispose(),
    },
  );
}

async function heapPerEntity(make: () => Subject, n: number): Promise<number> {
  const bytes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    gc!();
    gc!();
    const before = process.memoryUsage().heapUsed;
    const subject = make();
    const deadline = far();
    for (let i = 0; i < n; i++) subject.create(ids[i]!, deadline + i, noop);
    gc!();
    gc!();
    bytes.push((process.memoryUsage().heapUsed - before) / n);
    await subject.dispose();
  }
  return middle(bytes);
}

async function cyclesPerSecond(make: () => Subject, n = N): Promise<number> {
  const subject = make();
  const deadline = far();
  for (let i = 0; i < n; i++) subject.create(ids[i]!, deadline, noop);
  const batch = Math.min(n, SMALL * 2);
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

/** One lateness run: N deadlines spread over 5 s, starting after creation is done. */
async function latenessRun(make: () => Subject): Promise<Lateness> {
  const subject = make();
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
  return { p50: sorted[Math.floor(N * 0.5)]!, p99: sorted[Math.floor(N * 0.99)]!, max: sorted[N - 1]! };
}

const medianLateness = (runs: Lateness[]): Lateness => ({
  p50: middle(runs.map((r) => r.p50)),
  p99: middle(runs.map((r) => r.p99)),
  max: middle(runs.map((r) => r.max)),
});

/** Warm, in a process of its own: a first run to warm the JIT up, then the median of three. */
async function latenessWarmHere(make: () => Subject): Promise<Lateness> {
  await latenessRun(make);
  const runs: Lateness[] = [];
  for (let run = 0; run < RUNS; run++) {
    runs.push(await latenessRun(make));
    gc!();
  }
  return medianLateness(runs);
}

/** Runs a lateness measurement in a fresh process, away from the heaps of the other workloads. */
function latenessInChild(mode: '--cold' | '--warm', name: Name): Lateness {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), mode, name, ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Lateness;
}

/** Warm: after a warm-up run, in a fresh process (the 1M workloads leave big heaps behind). */
const latenessWarm = (name: Name): Lateness => latenessInChild('--warm', name);

/** Cold: each run in a fresh process, where the expiry path has never run (median of three). */
function latenessCold(name: Name): Lateness {
  return medianLateness(Array.from({ length: RUNS }, () => latenessInChild('--cold', name)));
}

/** Closes per second when N entities expire at the same instant. */
async function closeThroughput(make: () => Subject): Promise<number> {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const subject = make();
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

async function disposeTime(make: () => Subject): Promise<number> {
  let subject: Subject;
  return median(async () => void (await subject.dispose()), {
    iterations: RUNS,
    warmup: 0,
    before: () => {
      subject = make();
      const deadline = far();
      for (let i = 0; i < N; i++) subject.create(ids[i]!, deadline + i, noop);
    },
  });
}

/** `actorOf` for every entity: time and extra heap per materialized entity. */
async function materialization(n: number): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  const bytes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const manager = createExpireManager();
    const deadline = far();
    for (let i = 0; i < n; i++) manager.new(ids[i]!, deadline + i, noop);
    gc!();
    gc!();
    const before = process.memoryUsage().heapUsed;
    const t = performance.now();
    for (let i = 0; i < n; i++) manager.actorOf(ids[i]!);
    times.push(performance.now() - t);
    gc!();
    gc!();
    bytes.push((process.memoryUsage().heapUsed - before) / n);
    await manager.dispose();
  }
  return { ms: middle(times), bytes: middle(bytes) };
}

// A lateness measurement in its own process (see latenessInChild).
for (const mode of ['--cold', '--warm'] as const) {
  const at = process.argv.indexOf(mode);
  if (at < 0) continue;
  const make = subjects[process.argv[at + 1] as Name];
  console.log(JSON.stringify(mode === '--cold' ? await latenessRun(make) : await latenessWarmHere(make)));
  process.exit(0);
}

const k = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
const rate = (v: number) => `${Math.round(v).toLocaleString('en')}/s`;
const bytes = (v: number) => `${Math.round(v)} B`;

interface Row {
  label: string;
  values: Partial<Record<Name, number>>;
  shown: Partial<Record<Name, string>>;
  ratio: Partial<Record<Name, number>>;
}
const rows: Row[] = [];

/** Measures every subject; the ratio is how many times the baseline's cost (its inverse for rates). */
async function row(label: string, measure: (name: Name) => Promise<number> | number, format: (v: number) => string, higherIsBetter = false) {
  const r: Row = { label, values: {}, shown: {}, ratio: {} };
  for (const name of names) {
    process.stdout.write(`  ${label}: ${name}…`);
    const value = await measure(name);
    r.values[name] = value;
    r.shown[name] = format(value);
    process.stdout.write(` ${format(value)}\n`);
  }
  const base = r.values['hand-rolled']!;
  for (const name of names) r.ratio[name] = higherIsBetter ? base / r.values[name]! : r.values[name]! / base;
  rows.push(r);
  return r;
}

console.log(`xstate-expire benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}${quick ? ' (quick)' : ''}`);

await row(`create ${k(SMALL)}`, (n) => createTime(subjects[n], SMALL), ms);
const create = await row(`create ${k(N)}`, (n) => createTime(subjects[n], N), ms);
const createHuge = HUGE ? await row(`create ${k(HUGE)}`, (n) => createTime(subjects[n], HUGE), ms) : undefined;
const heap = await row(`heap per live entity (${k(N)})`, (n) => heapPerEntity(subjects[n], N), bytes);
const heapHuge = HUGE ? await row(`heap per live entity (${k(HUGE)})`, (n) => heapPerEntity(subjects[n], HUGE), bytes) : undefined;
const cycles = await row(`update cycles/s (stop → new, ${k(N)} live)`, (n) => cyclesPerSecond(subjects[n]), rate, true);
const warm: Partial<Record<Name, Lateness>> = {};
const cold: Partial<Record<Name, Lateness>> = {};
const lateWarm = await row(`expiry lateness p99, warm (${k(N)} over 5 s)`, (n) => (warm[n] = latenessWarm(n)).p99, (v) => `${v} ms`);
const lateCold = await row(`expiry lateness p99, cold (${k(N)} over 5 s)`, (n) => (cold[n] = latenessCold(n)).p99, (v) => `${v} ms`);
const closes = await row(`closes/s (${k(N)} expiring together)`, (n) => closeThroughput(subjects[n]), rate, true);
const dispose = await row(`dispose ${k(N)}`, (n) => disposeTime(subjects[n]), ms);

// Materialization and the two ways to inspect (xstate-expire only).
const materialize = await materialization(SMALL);
const inspectModes = {
  materialize: { create: await createTime(materialized, SMALL), cycles: await cyclesPerSecond(materialized, SMALL), heap: await heapPerEntity(materialized, SMALL) },
  synthetic: { create: await createTime(synthetic, SMALL), cycles: await cyclesPerSecond(synthetic, SMALL), heap: await heapPerEntity(synthetic, SMALL) },
};

// The naive design, at sizes where it still finishes.
const naive: Record<number, number> = {};
for (const n of quick ? [500, 1000] : [500, 1000, 2000]) {
  const t = performance.now();
  createNaive(n, far());
  naive[n] = performance.now() - t;
}
const naiveSizes = Object.keys(naive).map(Number);
const [n0, n1] = [naiveSizes[0]!, naiveSizes.at(-1)!];

// The tables.
const ratio = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(v < 10 ? 2 : 1)}×`);
const lines = [
  '| workload | hand-rolled (baseline) | xstate-expire | × baseline | @isaacs/ttlcache | × baseline |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const r of rows) {
  lines.push(`| ${r.label} | ${r.shown['hand-rolled']} | ${r.shown['xstate-expire']} | ${ratio(r.ratio['xstate-expire'])} | ${r.shown.ttlcache} | ${ratio(r.ratio.ttlcache)} |`);
  if (r === lateWarm || r === lateCold) {
    const l = r === lateWarm ? warm : cold;
    const pm = (n: Name) => `${l[n]!.p50} / ${l[n]!.max} ms`;
    lines.push(`| ↳ p50 / max | ${pm('hand-rolled')} | ${pm('xstate-expire')} |  | ${pm('ttlcache')} |  |`);
  }
}
if (heapHuge) {
  const mb = (n: Name) => `${Math.round((heapHuge.values[n]! * HUGE) / 2 ** 20)} MB`;
  lines.push(`| heap of ${k(HUGE)} live entities | ${mb('hand-rolled')} | ${mb('xstate-expire')} | ${ratio(heapHuge.ratio['xstate-expire'])} | ${mb('ttlcache')} | ${ratio(heapHuge.ratio.ttlcache)} |`);
}

const xs = 'xstate-expire';
const extra = [
  `- \`actorOf\` for ${k(SMALL)} resting entities: ${ms(materialize.ms)} (${(materialize.ms * 1000 / SMALL).toFixed(1)} µs each), ${bytes(materialize.bytes)} more heap per materialized entity.`,
  `- Inspecting ${k(SMALL)} entities, every entity a live actor (what \`inspect\` does): create ${ms(inspectModes.materialize.create)}, ${rate(inspectModes.materialize.cycles)} update cycles, ${bytes(inspectModes.materialize.heap)} per entity.`,
  `- The same with records and synthetic inspection events (a prototype, a lower bound): create ${ms(inspectModes.synthetic.create)}, ${rate(inspectModes.synthetic.cycles)} update cycles, ${bytes(inspectModes.synthetic.heap)} per entity.`,
  `- Naive XState (one parent machine that \`spawnChild\`s every entity): ${ms(naive[n0]!)} at ${k(n0)}, ${ms(naive[n1]!)} at ${k(n1)}: ${(naive[n1]! / naive[n0]!).toFixed(1)}× for ${n1 / n0}× the entities.`,
];

const hugeMb = heapHuge ? (heapHuge.values[xs]! * HUGE) / 2 ** 20 : undefined;
const targets: Array<[string, boolean, string]> = [
  [`create ${k(N)} ≤ 2× baseline`, create.ratio[xs]! <= 2, ratio(create.ratio[xs])],
  ...(createHuge ? [[`create ${k(HUGE)} ≤ 2× baseline`, createHuge.ratio[xs]! <= 2, ratio(createHuge.ratio[xs])] as [string, boolean, string]] : []),
  [`heap per entity (${k(N)}) ≤ 1.3× baseline`, heap.ratio[xs]! <= 1.3, ratio(heap.ratio[xs])],
  ...(heapHuge ? [[`heap per entity (${k(HUGE)}) ≤ 1.3× baseline`, heapHuge.ratio[xs]! <= 1.3, ratio(heapHuge.ratio[xs])] as [string, boolean, string]] : []),
  ...(hugeMb !== undefined ? [[`${k(HUGE)} live ≤ 500 MB`, hugeMb <= 500, `${Math.round(hugeMb)} MB`] as [string, boolean, string]] : []),
  ['update cycles ≥ 0.5× baseline (ratio ≤ 2×)', cycles.ratio[xs]! <= 2, ratio(cycles.ratio[xs])],
  [`expiry lateness p99 ≤ 20 ms, warm`, lateWarm.values[xs]! <= 20, `${lateWarm.values[xs]} ms`],
  [`expiry lateness p99 ≤ 20 ms, cold`, lateCold.values[xs]! <= 20, `${lateCold.values[xs]} ms`],
  ['closes/s ≥ 0.5× baseline (ratio ≤ 2×)', closes.ratio[xs]! <= 2, ratio(closes.ratio[xs])],
  ['dispose ≤ 3× baseline', dispose.ratio[xs]! <= 3, ratio(dispose.ratio[xs])],
];
const targetLines = targets.map(([what, ok, value]) => `- ${ok ? 'met' : 'NOT met'}: ${what} (measured ${value})`);

console.log(`\n${lines.join('\n')}\n\n${extra.join('\n')}\n\nTargets:\n${targetLines.join('\n')}`);

if (write) {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  // The durable benchmark (npm run bench:durable) writes its own section: carried over as it is.
  const docsUrl = new URL('../docs/benchmarks.md', import.meta.url);
  const previous = (() => {
    try {
      return readFileSync(docsUrl, 'utf8');
    } catch {
      return '';
    }
  })();
  const durableStart = previous.indexOf('<!-- durable: start -->');
  const durableEnd = previous.indexOf('<!-- durable: end -->');
  const durable =
    durableStart >= 0 && durableEnd > durableStart
      ? previous.slice(durableStart, durableEnd + '<!-- durable: end -->'.length)
      : '<!-- durable: start -->\n<!-- durable: end -->';
  writeFileSync(
    docsUrl,
    `# Benchmarks

Measured by \`npm run bench -- --write\` on ${machine}, ${new Date().toISOString().slice(0, 10)}.
Every figure is the median of ${RUNS} runs or more. Ratios are against the hand-rolled baseline
measured in the same run: for times and bytes, how many times its cost; for rates, how many
times slower (2× = half the baseline's rate).

${lines.join('\n')}

${extra.join('\n')}

## Targets (engine issue)

${targetLines.join('\n')}

## What is measured

- **hand-rolled**: \`bench/hand-rolled.ts\`, the Go algorithm over a \`Map\` of native timers
  with the same five calls — what a user would write instead.
- **xstate-expire**: the public facade with its defaults (records driven by the compiled
  statechart, one timer heap behind one unref'd native timer, a serial executor per id
  created when an entity expires).
- **@isaacs/ttlcache**: TTL plus \`dispose\`, on the workloads it can do; it cannot pause, so
  its update cycle is a refresh (\`set\` with a new TTL).
- create: \`new\` for N entities into a fresh manager (tinybench, median of 7 runs at ${k(SMALL)},
  ${RUNS} above; disposal not timed). Heap: \`heapUsed\` after two forced GCs, divided by N
  (median of ${RUNS}); the ${k(HUGE || N)} total is that figure times N.
- update cycles: with N live, \`stop(id)\` then \`new(id, deadline)\` for ${k(SMALL * 2)} ids per sample (median of 5).
- expiry lateness: N deadlines spread evenly over 5 s on the real clock, starting after
  creation; lateness = when the close is called − the deadline. Each in a fresh process,
  away from the heaps the 1M workloads leave behind. **Warm**: after one run that warms the
  JIT up, median of ${RUNS}. **Cold**: the first run of a process (median of ${RUNS} processes).
- closes/s: N entities with one deadline; N ÷ (last close − deadline) (median of ${RUNS}).
- dispose: \`dispose()\` with N live (median of ${RUNS}).
- materialization and inspection: see [design.md](design.md#actors-on-demand).

## Reproduce

\`\`\`sh
npm install
npm run bench               # prints the tables (about 8 minutes)
npm run bench -- --write    # and rewrites this file
\`\`\`

Profiles: \`node --cpu-prof --expose-gc --import tsx bench/run.ts --quick\`.

${durable}
`,
  );
  // The README shows the same table, between its markers.
  const readme = new URL('../README.md', import.meta.url);
  const start = '<!-- generated: performance (npm run bench -- --write) -->';
  const end = '<!-- end: performance -->';
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    const body = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; medians of ${RUNS}+ runs.\n\n${lines.join('\n')}\n\n${targetLines.join('\n')}`;
    writeFileSync(readme, `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`);
  }
  console.log('\nwrote docs/benchmarks.md and the README\'s performance section');
}
process.exit(0);
