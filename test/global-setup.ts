/**
 * Vitest's global setup: what every durable test would otherwise make for
 * itself, made once per run (and kept per machine) before the files start.
 * The PGlite template data folder, and the PostgreSQL template cluster where
 * the server binaries are installed, are made side by side (one is WebAssembly
 * in a child process, the other `initdb`). And the programs that tests start
 * as processes are bundled, each once, to run on plain `node`.
 */
import { bundleAll } from './support/bundle.js';
import { pgliteTemplate } from './support/pglite-template.js';
import { postgresTemplate } from './support/postgres.js';

/** Makes both templates and the bundles; a failure fails the run at once, with its reason. */
export default async function setup(): Promise<void> {
  const started = Date.now();
  // Bundling runs while child processes make the templates (when they are missing).
  const [pglite, postgres] = await Promise.all([pgliteTemplate(), postgresTemplate(), Promise.resolve().then(bundleAll)]);
  const ms = Date.now() - started;
  if (ms > 1_000) console.log(`test templates ready in ${ms} ms: PGlite ${pglite}, PostgreSQL ${postgres ?? 'none (no server binaries)'}`);
}
