/**
 * A process that opens a PGlite store on a data folder (argv[2]) with a
 * template cache (argv[3]), writes one row and closes it: prints
 * `opened <rows>`, or `failed <message>`, after a `warning <message>` line
 * for each process warning (a store that could not seed the folder from the
 * template says why in one). With argv[4], the store makes a
 * template with that program in place of `node` (a stand-in for `initdb`
 * that test/durable/pglite-open.test.ts writes).
 */
import { pgliteStore } from '../../src/durable/index.js';

const [dataDir, templateCache, maker] = process.argv.slice(2);
process.on('warning', (warning) => process.stdout.write(`warning ${warning.message.split('\n')[0]}\n`));
// The store starts its template maker as `process.execPath`.
if (maker) process.execPath = maker;
const store = pgliteStore({ dataDir: dataDir!, templateCache: templateCache! });
try {
  await store.acquire();
  await store.query(
    `INSERT INTO ${store.schema}.entities (namespace, id, generation, state, live, deadline, closer) VALUES ('n', 'a', 1, 'active', true, 0, 'c')`,
  );
  const [row] = await store.query(`SELECT count(*)::int AS n FROM ${store.schema}.entities`);
  await store.release();
  process.stdout.write(`opened ${String(row?.n)}\n`);
} catch (error) {
  process.stdout.write(`failed ${(error as Error).message}\n`);
}
