import type { LiveExpirationState } from '../machines/expiration.js';
import type { CloseErrorHandler } from '../types.js';
import { type Deadline, describe } from '../shared/validate.js';
import { type TelemetryOptions, assertTelemetryOptions } from '../telemetry/telemetry.js';
import { type Closer, type CloserOptions, toClosers } from './closers.js';
import type { DurableStore } from './store.js';
import { assertMs, assertNamespace } from './validate.js';

export type { Closer, CloserOptions, ClosingEntity } from './closers.js';

/** When an entity expires: absolute (epoch ms on the database's clock, or a Date) or a TTL from now. */
export type DurableDeadline = Deadline;

/** Options of {@link DurableExpireManager.new}. */
export interface DurableNewOptions {
  /** The name of its closer in {@link DurableExpireManagerOptions.closers}. */
  closer: string;
  /** What the closer gets, as JSON. Default `null`. */
  data?: unknown;
}

/** Options of {@link createDurableExpireManager}. */
export interface DurableExpireManagerOptions extends TelemetryOptions {
  /** Where the entities live: `pgliteStore({ dataDir })` or `postgresStore({ connectionString } | { pool })`. */
  store: DurableStore;
  /**
   * The closes this process can run, by name: a function, or `{ close, retry?,
   * closeTimeoutMs? }`. An entity is only closed by a process that has its
   * closer. A failed attempt is retried (5 attempts by default) and after the
   * last the entity is kept as `failed`; an attempt times out after 5 minutes.
   */
  closers: Record<string, Closer | CloserOptions>;
  /** Managers of one namespace share its entities. Default `'default'`. */
  namespace?: string;
  /**
   * How long a close's claim lasts without renewal: the manager running it
   * renews it while it runs; if that manager dies, another takes the close
   * over after this. Default 30 s; 30 ms to 2^31−1 ms.
   */
  claimTimeoutMs?: number;
  /**
   * How long a pause (`stop`) lasts without renewal: every manager that
   * paused it (a holder) renews it while it lives; when every holder has
   * died, the entity resumes its saved deadline after this (R1.2 for a dead
   * updater). Default 30 s; at least 30 ms.
   */
  pauseTimeoutMs?: number;
  /** How often the manager looks for due entities besides its timer and notifications. Default 1 s; 10 ms to 2^31−1 ms. */
  pollIntervalMs?: number;
  /** How many closes this process runs at once. Default 100; a whole number from 1 to 10,000. */
  concurrency?: number;
  /** Receives a closer's failure, with the entity's id. Default: `console.error`. */
  onCloseError?: CloseErrorHandler;
  /** Aborting it disposes the manager. */
  signal?: AbortSignal;
}

/** A live entity, as {@link DurableExpireManager.get} and {@link DurableExpireManager.list} read it. */
export interface DurableEntity {
  id: string;
  /** Its top-level state. */
  state: LiveExpirationState;
  /** Its absolute deadline, in ms on the database's clock (kept while paused). */
  deadline: number;
  /** The name of its closer. */
  closer: string;
  /** Its data (JSON). */
  data: unknown;
  /** Its generation: unique per id and incarnation. */
  generation: number;
  /** Close attempts made since it expired (retrying or failed; 0 before). */
  attempts: number;
  /** The last failed attempt's error message, while retrying or failed. */
  lastError?: string;
}

/** Options of {@link DurableExpireManager.dispose}. */
export interface DurableDisposeOptions {
  /**
   * Close every entity of the namespace that is live when it starts (shared
   * with every manager of it) and wait until each of those whose closer this
   * process has is closed (or deleted, or renewed by another process), or
   * failed for good (kept as `failed`, as every entity stays). Those
   * whose closer it lacks are expired too, and left for a process that has it;
   * entities created meanwhile by other processes stay. Default `false`: only
   * this manager stops, and the entities stay for the others or for a restart.
   */
  close?: boolean;
}

/** The options with every default filled in, as the manager runs on them. */
export type ResolvedDurableOptions = Required<Omit<DurableExpireManagerOptions, 'signal' | 'onCloseError' | keyof TelemetryOptions>> &
  DurableExpireManagerOptions;

/**
 * The options of {@link createDurableExpireManager}, validated, with their defaults.
 *
 * @throws TypeError naming the first bad option: nothing is opened then.
 */
export function withDefaults(options: DurableExpireManagerOptions): ResolvedDurableOptions {
  const owner = 'createDurableExpireManager';
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object`);
  const { store, closers, namespace = 'default', claimTimeoutMs = 30_000, pauseTimeoutMs = 30_000 } = options;
  const { pollIntervalMs = 1_000, concurrency = 100, onCloseError, signal } = options;
  const fail = (what: string): never => {
    throw new TypeError(`${owner}: ${what}`);
  };
  if (typeof store?.transaction !== 'function' || typeof store.acquire !== 'function') {
    fail('store must be pgliteStore(...) or postgresStore(...)');
  }
  toClosers(owner, closers);
  assertNamespace(owner, namespace);
  assertMs(owner, 'claimTimeoutMs', claimTimeoutMs, 30);
  // A pause's timeout is a due time in the database only (no timer, no setting holds it): as long as a number is exact.
  assertMs(owner, 'pauseTimeoutMs', pauseTimeoutMs, 30, Number.MAX_SAFE_INTEGER);
  assertMs(owner, 'pollIntervalMs', pollIntervalMs, 10);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
    fail(`concurrency must be a whole number from 1 to 10000, got ${describe(concurrency)}`);
  }
  if (onCloseError !== undefined && typeof onCloseError !== 'function') fail('onCloseError must be a function');
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail('signal must be an AbortSignal');
  assertTelemetryOptions('createDurableExpireManager', options);
  return {
    ...options,
    namespace,
    claimTimeoutMs,
    pauseTimeoutMs,
    pollIntervalMs,
    concurrency,
  };
}
