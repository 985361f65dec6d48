/**
 * Writes the per-file mutation scores of the last `stryker run`
 * (reports/mutation/mutation.json) into docs/testing.md, between its
 * `mutation scores` markers. `npm run mutate` runs it after Stryker.
 *
 * With `--durable`, the scores of `npm run mutate:durable` instead
 * (reports/mutation/durable.json, or the reports named after the flag, merged
 * by file: runs of parts of src/durable), between the `durable mutation
 * scores` markers.
 *
 * The score is Stryker's: detected (killed or timed out) over valid mutants
 * (detected, survived or not covered); ignored and errored mutants don't count.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Report {
  files: Record<string, { mutants: Array<{ status: string }> }>;
}

const durable = process.argv.includes('--durable');
const named = process.argv.slice(2).filter((arg) => arg !== '--durable');
const paths = named.length > 0 ? named : [fileURLToPath(new URL(`../reports/mutation/${durable ? 'durable' : 'mutation'}.json`, import.meta.url))];
const report: Report = { files: {} };
for (const path of paths) Object.assign(report.files, (JSON.parse(readFileSync(path, 'utf8')) as Report).files);

/** Counts by status, and the score (`undefined` when nothing valid). */
function tally(statuses: string[]) {
  const count = (status: string) => statuses.filter((s) => s === status).length;
  const killed = count('Killed');
  const timeout = count('Timeout');
  const survived = count('Survived');
  const noCoverage = count('NoCoverage');
  const valid = killed + timeout + survived + noCoverage;
  return { killed, timeout, survived, noCoverage, score: valid ? ((killed + timeout) / valid) * 100 : undefined };
}

const row = (name: string, t: ReturnType<typeof tally>) =>
  `| ${name} | ${t.score === undefined ? '—' : `${t.score.toFixed(1)}%`} | ${t.killed} | ${t.timeout} | ${t.survived} | ${t.noCoverage} |`;

const files = Object.keys(report.files).sort();
const rows = files.map((file) => row(`\`${file}\``, tally(report.files[file]!.mutants.map((m) => m.status))));
const total = tally(files.flatMap((file) => report.files[file]!.mutants.map((m) => m.status)));
const day = new Date().toISOString().slice(0, 10);
const table = [
  `Last run: ${day}, StrykerJS 9.6.1, ${files.length} files.`,
  '',
  '| file | score | killed | timed out | survived | not covered |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
  row(durable ? '**all of the files above**' : '**all of `src/` in scope**', total),
].join('\n');

const doc = fileURLToPath(new URL('../docs/testing.md', import.meta.url));
const current = readFileSync(doc, 'utf8');
const start = durable ? '<!-- written by: npm run mutate:durable -->' : '<!-- written by: npm run mutate -->';
const end = durable ? '<!-- end: durable mutation scores -->' : '<!-- end: mutation scores -->';
const from = current.indexOf(start);
const to = current.indexOf(end);
if (from < 0 || to < from) throw new Error(`docs/testing.md lacks the markers ${start} … ${end}`);
writeFileSync(doc, `${current.slice(0, from + start.length)}\n${table}\n${current.slice(to)}`);
console.log(`${durable ? 'durable ' : ''}mutation score ${total.score?.toFixed(1)}% over ${files.length} files: written to docs/testing.md`);
