/** Exit codes scripts can rely on. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The entity (or anything matching) was not found. */
  notFound: 1,
  /** Bad command line. */
  usage: 2,
  /** The store could not be opened or queried. */
  unreachable: 3,
  /** The schema's version does not match the library's: run `migrate`, or upgrade the library. */
  schema: 4,
} as const;

const COMMON = `Common options:
  --store <pglite:DIR | postgres://…>  the store (required)
  --namespace <name>                   default "default"
  --schema <name>                      the PostgreSQL schema, default "xstate_expire"
  --json                               JSON lines instead of tables
  -h, --help                           this help`;

const EXITS = `Exit codes: 0 ok, 1 not found, 2 usage, 3 store unreachable, 4 schema version mismatch.`;

/** The help of each command, and of the tool (`''`). */
export const HELP: Record<string, string> = {
  '': `Usage: xstate-expire <command> --store <pglite:DIR | postgres://…> [--namespace n] [--json]

Inspect and repair the entities of a durable xstate-expire store. It reads,
deletes and re-queues; it never claims or runs a close (that is the managers' job).

Commands:
  status        counts per state, earliest deadline, schema version
  list          the entities, by id (--state s, --limit n)
  get <id>      one entity (and a close of it still running)
  delete <id>   delete a live entity without closing it
  retry <id>    send a failed entity back to closing (a manager runs it)
  migrate       create the schema, or upgrade it to this version

Run "xstate-expire <command> --help" for a command's options.
A PGlite folder is open in one process at a time: stop its service first.

${EXITS}`,
  status: `Usage: xstate-expire status --store <…> [--namespace n] [--json]

Counts the namespace's entities per state (active, paused, expired.queued,
expired.closing), its earliest deadline and the schema's version.

${COMMON}

${EXITS}`,
  list: `Usage: xstate-expire list --store <…> [--namespace n] [--state s] [--limit n] [--json]

Lists the namespace's entities by id: live ones and closes still running.

Options:
  --state <s>   only those in state s: active, paused, expired, expired.queued, expired.closing,
                expired.retrying, failed
  --limit <n>   at most n (default 100)

${COMMON}

${EXITS}`,
  get: `Usage: xstate-expire get <id> --store <…> [--namespace n] [--json]

Shows entity <id>: its live row, and a close of it still running. Exit 1 when none.

${COMMON}

${EXITS}`,
  delete: `Usage: xstate-expire delete <id> --store <…> [--namespace n] [--json]

Deletes the live entity <id> without closing it (like the manager's delete).
A close already running is not affected. Exit 1 when there is no live entity <id>.

${COMMON}

${EXITS}`,
  retry: `Usage: xstate-expire retry <id> --store <…> [--namespace n] [--json]

Sends the failed entity <id> (every close attempt failed) back to closing with
a fresh round of attempts (like the manager's retry). A running manager with
its closer runs it. Exit 1 when <id> is not failed.

${COMMON}

${EXITS}`,
  migrate: `Usage: xstate-expire migrate --store <…> [--json]

Creates the schema, or upgrades it to this library's version, under the
advisory lock the managers take. Managers opened with { migrate: false } need
it after an upgrade of the library. A schema newer than the library is refused.

${COMMON}

${EXITS}`,
};

/** The commands. */
export const COMMANDS = ['status', 'list', 'get', 'delete', 'retry', 'migrate'] as const;
/** One of {@link COMMANDS}. */
export type Command = (typeof COMMANDS)[number];
