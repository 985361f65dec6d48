/**
 * A process that opens a PGlite store on a data folder (argv[2]) with a
 * template cache (argv[3]), writes one row and closes it: prints
 * `opened <rows>`, or `failed <message>`.
 */
import { pgliteStore } from '../../src/durable/index.js';

const store = pgliteStore({ dataDir: process.argv[2]!, templateCache: process.argv[3]! });
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
