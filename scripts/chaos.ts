/**
 * `npm run chaos -- --seconds 300 --seed N [--workers 4] [--ids 36] [--isolation 'repeatable read'] [--claim-ms 1500] [--pause-ms 1500] [--out file.json]`:
 * a long chaos run of durable managers in worker processes on a real PostgreSQL
 * (test/durable/chaos/run.ts), judged over its ledger; exits 1 when a promise broke.
 * The seed replays the run's choices (which worker, which signal, which call), not
 * the machine's timing.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runChaos } from '../test/durable/chaos/run.js';
import { INVARIANTS, describeVerdict } from '../test/durable/chaos/verdict.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string', default: process.env['CHAOS_SEED'] },
    workers: { type: 'string', default: '4' },
    ids: { type: 'string', default: '36' },
    out: { type: 'string' },
    isolation: { type: 'string' },
    'claim-ms': { type: 'string', default: '1500' },
    'pause-ms': { type: 'string', default: '1500' },
  },
});
const number = (name: string, value: string | undefined): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new TypeError(`chaos: --${name} must be a positive integer, got ${value}`);
  return parsed;
};
const levels = ['read committed', 'repeatable read', 'serializable'] as const;
if (values.isolation !== undefined && !levels.includes(values.isolation as (typeof levels)[number])) {
  throw new TypeError(`chaos: --isolation must be one of ${levels.join(', ')}, got ${values.isolation}`);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : number('seed', values.seed);

const claimTimeoutMs = number('claim-ms', values['claim-ms']);
const pauseTimeoutMs = number('pause-ms', values['pause-ms']);
const result = await runChaos({
  seed,
  seconds: number('seconds', values.seconds),
  workers: number('workers', values.workers),
  ids: number('ids', values.ids),
  claimTimeoutMs,
  pauseTimeoutMs,
  log: (line) => console.log(line),
  ...(values.isolation ? { isolation: values.isolation as (typeof levels)[number] } : {}),
});
console.log(`chaos: seed ${seed}, ${Math.round(result.wallMs / 1000)} s, server down ${result.outageMs} ms, actions ${JSON.stringify(result.actions)}`);
console.log(`calls: ${JSON.stringify(result.stats)}`);
console.log(`failed calls: ${JSON.stringify(result.errors)}`);
console.log(describeVerdict(result.verdict));
if (values.out) writeFileSync(values.out, JSON.stringify(result, null, 1));
const broken = INVARIANTS.filter((name) => result.verdict[name].length > 0);
console.log(broken.length === 0 ? 'chaos: every promise held' : `chaos: broken: ${broken.join(', ')} (replay: CHAOS_SEED=${seed})`);
process.exit(broken.length === 0 ? 0 : 1);
