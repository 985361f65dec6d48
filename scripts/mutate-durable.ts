/**
 * `npm run mutate:durable`: StrykerJS over src/durable (stryker.durable.config.mjs),
 * against one PostgreSQL server started here for the whole run. The tests find
 * it in XSTATE_EXPIRE_TEST_POSTGRES_URL and take a schema each on it, instead
 * of starting a server per test file, which a mutation run would do per mutant.
 * The server is stopped by its PID whatever ends the run (its end, a failure,
 * Ctrl-C). Arguments go to `stryker run` (`--mutate src/durable/validate.ts`,
 * `--force`); then the scores are written to docs/testing.md.
 *
 * A run of one file (`--mutate src/durable/x.ts`, or a list `x.ts,y.ts`) keeps its own
 * incremental file and report (`reports/stryker-durable-x.json`, `reports/mutation/durable-x.json`):
 * runs of one file after another then add up to the table of every file.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startPostgres } from '../test/support/postgres.js';

const args = process.argv.slice(2);
const mutate = args.includes('--mutate') ? args[args.indexOf('--mutate') + 1] : undefined;
// The part's name: `x` for src/durable/x.ts, `x+y` for a list of files (not for a glob).
const files = mutate?.split(',');
const part = files?.every((file) => /^src\/durable\/[\w-]+\.ts$/.test(file)) ? files.map((file) => basename(file, '.ts')).join('+') : undefined;
if (part && !args.includes('--incrementalFile')) args.push('--incrementalFile', `reports/stryker-durable-${part}.json`);

const server = await startPostgres({ fsync: false, settings: { max_connections: 200 } });
console.log(`PostgreSQL for the run: ${server.connectionString} (PID ${server.pid})`);
let code = 1;
try {
  // Its own process group: Stryker and its workers are stopped together, by the group's id.
  const stryker = spawn(join('node_modules', '.bin', 'stryker'), ['run', 'stryker.durable.config.mjs', ...args], {
    stdio: 'inherit',
    detached: true,
    env: { ...process.env, XSTATE_EXPIRE_TEST_POSTGRES_URL: server.connectionString },
  });
  const stop = () => {
    try {
      process.kill(-stryker.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  code = await new Promise<number>((done) => stryker.on('close', (status) => done(status ?? 1)));
  stop(); // workers left behind by a Stryker that failed
} finally {
  await server.stop();
}
if (code === 0) {
  const reports = join('reports', 'mutation');
  if (part) copyFileSync(join(reports, 'durable.json'), join(reports, `durable-${part}.json`));
  // A whole run's report alone; after a part, every part's report so far, merged by file.
  const inputs = part
    ? readdirSync(reports)
        .filter((name) => /^durable-[\w+-]+\.json$/.test(name))
        .sort()
        .map((name) => join(reports, name))
    : [join(reports, 'durable.json')];
  const scores = spawn('npx', ['tsx', 'scripts/mutation-scores.ts', '--durable', ...inputs], { stdio: 'inherit' });
  code = await new Promise<number>((done) => scores.on('close', (status) => done(status ?? 1)));
}
process.exit(code);
