import { parseArgs } from 'node:util';
import { getStored, listStored, storeStatus, topState } from '../durable/admin.js';
import { deleteStored, retryStored } from '../durable/admin-calls.js';
import { SCHEMA_VERSION, SchemaVersionError, assertSchema } from '../durable/store.js';
import { type Command, COMMANDS, EXIT, HELP } from './help.js';
import { table, time } from './format.js';
import { Unreachable, UsageError, openStore } from './store.js';
import type { DurableStore } from '../durable/store.js';
import type { StoredEntity } from '../durable/admin.js';

/** Where the CLI writes: the process's streams, or a test's. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const OPTIONS = {
  store: { type: 'string' },
  namespace: { type: 'string', default: 'default' },
  schema: { type: 'string', default: 'xstate_expire' },
  json: { type: 'boolean', default: false },
  state: { type: 'string' },
  limit: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const STATES = ['active', 'paused', 'expired', 'expired.queued', 'expired.closing', 'expired.retrying', 'failed'];

/**
 * Runs `xstate-expire <command> …` and resolves with its exit code (see
 * {@link EXIT}); never throws.
 */
export async function runCli(argv: readonly string[], io: CliOutput): Promise<number> {
  let values: { [K in keyof typeof OPTIONS]?: string | boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (error) {
    io.err(`xstate-expire: ${(error as Error).message}\n${HELP['']}`);
    return EXIT.usage;
  }
  const [name = '', ...rest] = positionals;
  if (name === 'help' || (name === '' && values.help)) {
    io.out(HELP[rest[0] ?? ''] ?? HELP['']!);
    return EXIT.ok;
  }
  if (!(COMMANDS as readonly string[]).includes(name)) {
    io.err(`xstate-expire: ${name === '' ? 'no command' : `unknown command ${JSON.stringify(name)}`}\n${HELP['']}`);
    return EXIT.usage;
  }
  const command = name as Command;
  if (values.help) {
    io.out(HELP[command]!);
    return EXIT.ok;
  }
  const usage = (message: string): number => {
    io.err(`xstate-expire ${command}: ${message}\n\n${HELP[command]}`);
    return EXIT.usage;
  };
  const takesId = command === 'get' || command === 'delete' || command === 'retry';
  if (rest.length !== (takesId ? 1 : 0)) return usage(takesId ? 'needs exactly one <id>' : 'takes no arguments');
  if (typeof values.store !== 'string') return usage('--store is required');
  if (command !== 'list' && (values.state !== undefined || values.limit !== undefined)) {
    return usage('--state and --limit are options of list');
  }
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 0) return usage(`--limit must be an integer, 0 or more, got ${values.limit}`);
  const state = values.state as string | undefined;
  if (state !== undefined && !STATES.includes(state)) return usage(`--state must be one of ${STATES.join(', ')}`);
  const namespace = values.namespace as string;
  const json = values.json === true;
  const print = (record: object, text: string): void => io.out(json ? JSON.stringify(record) : text);
  try {
    assertSchema('--schema', values.schema);
  } catch (error) {
    return usage((error as Error).message);
  }
  if (command === 'migrate') return migrateCommand(values.store, values.schema, io, print);
  let store: DurableStore;
  try {
    store = openStore(values.store, values.schema, false);
  } catch (error) {
    if (error instanceof Unreachable) {
      io.err(`xstate-expire ${command}: store unreachable: ${error.message}`);
      return EXIT.unreachable;
    }
    return usage((error as Error).message);
  }
  try {
    await store.acquire();
  } catch (error) {
    return failed(command, error, io);
  }
  try {
    switch (command) {
      case 'status': {
        const status = await storeStatus(store, namespace);
        const rows = Object.entries(status.states).map(([s, n]) => [s, String(n)]);
        print(
          { ...status, store: store.kind, schema: store.schema },
          [
            `store             ${store.kind}, schema ${store.schema} (version ${status.schemaVersion})`,
            `namespace         ${namespace}`,
            `earliest deadline ${time(status.earliestDeadline)}`,
            `database time     ${time(status.now)}`,
            '',
            rows.length === 0 ? 'no entities' : table(['STATE', 'COUNT'], rows),
          ].join('\n'),
        );
        return EXIT.ok;
      }
      case 'list': {
        const entities = await listStored(store, namespace, { state, limit });
        if (json) for (const entity of entities) io.out(JSON.stringify(entity));
        else io.out(entities.length === 0 ? 'no entities' : table(HEADERS, entities.map(row)));
        return entities.length === 0 && state !== undefined ? EXIT.notFound : EXIT.ok;
      }
      case 'get': {
        const rows = await getStored(store, namespace, rest[0]!);
        if (rows.length === 0) {
          io.err(`xstate-expire get: no entity ${JSON.stringify(rest[0])} in namespace ${JSON.stringify(namespace)}`);
          return EXIT.notFound;
        }
        if (json) for (const entity of rows) io.out(JSON.stringify(entity));
        else io.out(rows.map(details).join('\n\n'));
        return EXIT.ok;
      }
      case 'retry': {
        const retried = await retryStored(store, namespace, rest[0]!);
        print({ id: rest[0], retried }, retried ? `retrying ${rest[0]}` : `no failed entity ${JSON.stringify(rest[0])}`);
        return retried ? EXIT.ok : EXIT.notFound;
      }
      case 'delete': {
        const deleted = await deleteStored(store, namespace, rest[0]!);
        print({ id: rest[0], deleted }, deleted ? `deleted ${rest[0]}` : `no live entity ${JSON.stringify(rest[0])}`);
        return deleted ? EXIT.ok : EXIT.notFound;
      }
    }
  } catch (error) {
    return failed(command, error, io);
  } finally {
    await store.release().catch(() => {});
  }
}

const HEADERS = ['ID', 'STATE', 'DEADLINE', 'CLOSER', 'GENERATION', 'HELD BY', 'DUE', 'LEASE UNTIL'];

/** Who holds it: the process running its close, or those holding its pause. */
const heldBy = (e: StoredEntity): string => e.owner ?? (e.holders.length > 0 ? e.holders.join(',') : '-');

const row = (e: StoredEntity): string[] => [
  e.id,
  e.state,
  time(e.deadline),
  e.closer,
  String(e.generation),
  heldBy(e),
  time(e.due),
  time(e.leaseUntil),
];

const details = (e: StoredEntity): string =>
  [
    `id          ${e.id}`,
    `state       ${e.state}${e.live ? '' : ' (its close is running)'}`,
    `top state   ${topState(e.state)}`,
    `deadline    ${time(e.deadline)}`,
    `closer      ${e.closer}`,
    `generation  ${e.generation}`,
    `held by     ${heldBy(e)}`,
    `due         ${time(e.due)}`,
    `lease until ${time(e.leaseUntil)}`,
    `data        ${JSON.stringify(e.data)}`,
  ].join('\n');

async function migrateCommand(
  spec: string,
  schema: string,
  io: CliOutput,
  print: (record: object, text: string) => void,
): Promise<number> {
  // First without migrating, to tell "already there" from an upgrade (and its versions).
  let from = 0;
  let store: DurableStore | undefined;
  try {
    store = openStore(spec, schema, false);
    await store.acquire();
    from = SCHEMA_VERSION;
  } catch (error) {
    store = undefined;
    if (error instanceof SchemaVersionError && error.found > error.expected) return failed('migrate', error, io);
    if (error instanceof SchemaVersionError) from = error.found;
    else if (!(error instanceof Unreachable)) return failed('migrate', error, io); // a missing PGlite folder is created below
  }
  try {
    if (store === undefined) {
      store = openStore(spec, schema, true);
      await store.acquire(); // migrates, under the advisory lock
    }
    const text =
      from === SCHEMA_VERSION
        ? `schema ${schema} is at version ${SCHEMA_VERSION} already`
        : `schema ${schema} migrated from version ${from} to ${SCHEMA_VERSION}`;
    print({ schema, from, to: SCHEMA_VERSION }, text);
    return EXIT.ok;
  } catch (error) {
    return failed('migrate', error, io);
  } finally {
    await store?.release().catch(() => {});
  }
}

function failed(command: string, error: unknown, io: CliOutput): number {
  if (error instanceof UsageError) {
    io.err(`xstate-expire ${command}: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof SchemaVersionError) {
    io.err(`xstate-expire ${command}: ${error.message}`);
    return EXIT.schema;
  }
  io.err(`xstate-expire ${command}: store unreachable: ${(error as Error)?.message ?? String(error)}`);
  return EXIT.unreachable;
}
