/**
 * `xstate-expire/durable`: expirations that survive the process and are shared
 * by every process on the same PostgreSQL database — the expiration statechart
 * over rows, PGlite embedded by default, node-postgres for a server.
 *
 * @packageDocumentation
 */
export { DurableExpireManager, createDurableExpireManager } from './manager.js';
export { CLAIM_LOST } from './reasons.js';
export { MAX_ID_BYTES, MAX_NAMESPACE_BYTES, MAX_TIMEOUT_MS } from './validate.js';
export type {
  ClosingEntity,
  Closer,
  CloserOptions,
  DurableDeadline,
  DurableDisposeOptions,
  DurableEntity,
  DurableExpireManagerOptions,
  DurableNewOptions,
} from './options.js';
export { DurableExpireProtocol, createDurableExpireProtocol } from './protocol.js';
export type { DurableRenewal } from './protocol.js';
export { pgliteStore } from './pglite-store.js';
export type { PgliteStoreOptions } from './pglite-store.js';
export { postgresStore } from './postgres-store.js';
export type { PgClientLike, PgPoolClientLike, PgPoolLike, PostgresStoreOptions } from './postgres-store.js';
export type { DurableStore, Query, Row } from './store.js';
export { SCHEMA_VERSION, SchemaVersionError } from './store.js';
