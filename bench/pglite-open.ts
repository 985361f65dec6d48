/**
 * One PGlite first open, in a process of its own (bench/durable.ts starts it):
 * `pgliteStore` on a new data folder, acquired (opened and migrated) and
 * released. Prints one JSON line: wall and CPU milliseconds of the open, and
 * this process's RSS right after it.
 *
 * Usage: `node --import tsx bench/pglite-open.ts <new dataDir> <templateCache | none>`.
 */
import { pgliteStore } from '../src/durable/index.js';

const [dataDir, cache] = process.argv.slice(2);
if (!dataDir || !cache) throw new Error('usage: pglite-open.ts <new dataDir> <templateCache | none>');
const store = pgliteStore({ dataDir, templateCache: cache === 'none' ? false : cache });
// Before: Node, tsx and this library loaded, nothing of PGlite.
const rssBefore = process.memoryUsage().rss;
const cpu = process.cpuUsage();
const began = performance.now();
await store.acquire();
const ms = performance.now() - began;
const { user, system } = process.cpuUsage(cpu);
const rss = process.memoryUsage().rss;
// It works: the schema is there and takes a row.
await store.query(`INSERT INTO ${store.schema}.entities (namespace, id, generation, state, live, deadline, closer) VALUES ('n', 'a', 1, 'active', true, 0, 'c')`);
const [row] = await store.query(`SELECT count(*)::int AS n FROM ${store.schema}.entities`);
// Once V8's optimizing tier has recompiled PGlite's WebAssembly in the background (its memory freed).
await new Promise((resolve) => setTimeout(resolve, 5_000));
const rssLater = process.memoryUsage().rss;
await store.release();
console.log(JSON.stringify({ ms, cpuMs: (user + system) / 1000, rssBefore, rss, rssLater, rows: row?.n }));
