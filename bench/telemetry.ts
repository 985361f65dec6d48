/**
 * `npm run bench:telemetry -- <released src dir> [rounds] [--sdk]`: the in-memory manager with
 * its OpenTelemetry call sites and no SDK registered, against the same
 * workloads on the code before them (a copy of the released `src/`, e.g.
 * `git archive v0.1.0 src | tar -x -C /tmp/released`), in the same run,
 * interleaved round by round; with `--sdk`, also with an SDK (metrics and
 * traces to in-memory exporters), for the record. Ratios: this code's cost over the released
 * code's (for rates, the released rate over this one's): 1.05 = 5% slower.
 */
import { MeterProvider, InMemoryMetricExporter, AggregationTemporality, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SimulatedClock } from 'xstate';
import { createExpireManager } from '../src/index.js';

type Create = typeof createExpireManager;
const releasedDir = process.argv[2];
if (!releasedDir) throw new Error('usage: bench/telemetry.ts <released src dir>');
const released = ((await import(`${releasedDir}/index.ts`)) as { createExpireManager: Create }).createExpireManager;
const N = 100_000;
const ROUNDS = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 7);
const ids = Array.from({ length: N }, (_, i) => `lease-${i}`);
const noop = () => {};
const gc = globalThis.gc!;
const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const sdk = () => {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  return {
    meterProvider: new MeterProvider({ readers: [reader] }),
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] }),
  };
};
// With an SDK only on request (--sdk): its wrapped closes share this code's classes and inline
// caches with the no-SDK subject in one process, which would slow that one down unfairly.
const withSdk = process.argv.includes('--sdk');
const subjects: Record<string, (clock?: SimulatedClock) => ReturnType<Create>> = {
  released: (clock) => released(clock ? { clock } : {}),
  'this, no SDK': (clock) => createExpireManager(clock ? { clock } : {}),
  ...(withSdk ? { 'this, with an SDK': (clock?: SimulatedClock) => createExpireManager({ ...(clock ? { clock } : {}), ...sdk() }) } : {}),
};

async function create(make: () => ReturnType<Create>): Promise<number> {
  gc();
  const manager = make();
  const deadline = Date.now() + 3_600_000;
  const started = performance.now();
  for (let i = 0; i < N; i++) manager.new(ids[i]!, deadline + i, noop);
  const ms = performance.now() - started;
  await manager.dispose();
  return ms;
}

async function heap(make: () => ReturnType<Create>): Promise<number> {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const manager = make();
  const deadline = Date.now() + 3_600_000;
  for (let i = 0; i < N; i++) manager.new(ids[i]!, deadline + i, noop);
  gc();
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / N;
  await manager.dispose();
  return bytes;
}

async function cycles(make: () => ReturnType<Create>): Promise<number> {
  const manager = make();
  const deadline = Date.now() + 3_600_000;
  for (let i = 0; i < N; i++) manager.new(ids[i]!, deadline, noop);
  const batch = 20_000;
  const times: number[] = [];
  for (let round = 1; round <= 5; round++) {
    const started = performance.now();
    for (let i = 0; i < batch; i++) {
      manager.stop(ids[i]!);
      manager.new(ids[i]!, deadline + round, noop);
    }
    times.push(performance.now() - started);
  }
  await manager.dispose();
  return (batch / middle(times)) * 1000;
}

async function closes(make: (clock: SimulatedClock) => ReturnType<Create>): Promise<number> {
  const clock = new SimulatedClock();
  const manager = make(clock);
  let closed = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const close = () => void (++closed === N && resolve());
  for (let i = 0; i < N; i++) manager.new(ids[i]!, 1_000, close);
  const started = performance.now();
  clock.increment(1_000);
  await done;
  const rate = N / ((performance.now() - started) / 1000);
  await manager.dispose();
  return rate;
}

const workloads = { 'create 100k (ms)': create, 'heap per entity (B)': heap, 'update cycles/s': cycles, 'closes/s (100k together)': closes };
const rates = new Set(['update cycles/s', 'closes/s (100k together)']);
const results: Record<string, Record<string, number[]>> = {};
for (const workload of Object.keys(workloads)) results[workload] = Object.fromEntries(Object.keys(subjects).map((s) => [s, []]));
const load = (await import('node:os')).loadavg();
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, in a rotating order: drift in the machine's load hits every subject alike.
  const order = Object.keys(subjects);
  for (let i = 0; i < round % order.length; i++) order.push(order.shift()!);
  for (const [workload, measure] of Object.entries(workloads)) {
    for (const subject of order) results[workload]![subject]!.push(await (measure as typeof closes)(subjects[subject]!));
  }
}
const lines = [
  `| workload | ${Object.keys(subjects).join(' | ')} | no SDK ÷ released |${withSdk ? ' SDK ÷ released |' : ''}`,
  `| --- |${' --- |'.repeat(Object.keys(subjects).length + (withSdk ? 2 : 1))}`,
];
for (const [workload, bySubject] of Object.entries(results)) {
  const m = Object.fromEntries(Object.entries(bySubject).map(([s, v]) => [s, middle(v)]));
  const ratio = (s: string) => (rates.has(workload) ? m.released! / m[s]! : m[s]! / m.released!).toFixed(3);
  const fmt = (v: number) => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
  lines.push(
    `| ${workload} | ${Object.values(m).map(fmt).join(' | ')} | ${ratio('this, no SDK')} |${withSdk ? ` ${ratio('this, with an SDK')} |` : ''}`,
  );
}
console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds (median), load average before: ${load.map((l) => l.toFixed(1)).join(' / ')}, after: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
console.log(lines.join('\n'));
