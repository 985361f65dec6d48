import type { MeterProvider } from '@opentelemetry/api';
import {
  type DisposeOptions,
  type ExpireClock,
  type ExpireManager,
  type ExpireProtocol,
  type LiveExpirationState,
  createExpireManager,
  createExpireProtocol,
} from '../../src/index.js';
import { type Faults, LeaseStore } from './store.js';

/** A lease as the API shows it. */
export interface Lease {
  id: string;
  data: unknown;
  state: LiveExpirationState;
  expiresAt: number;
}

/** What the HTTP server needs of a registry: in memory ({@link LeaseRegistry}) or durable. */
export interface Registry {
  /** Registers or refreshes a lease; `created` tells which. `data` `undefined` keeps a refreshed lease's data. */
  register(id: string, ttlMs: number, data: unknown, fail?: boolean): Promise<{ created: boolean; lease: Lease }>;
  /** Unregisters a lease: `false` when it is unknown or already expired. */
  unregister(id: string, fail?: boolean): Promise<boolean>;
  /** A live lease, or `undefined`. */
  get(id: string): Lease | undefined | Promise<Lease | undefined>;
  /** Every live lease. */
  list(): Lease[] | Promise<Lease[]>;
  /** Which store calls fail on purpose. */
  readonly faults: Faults;
  /** Where the leases live: `memory`, `pglite` or `postgres`. */
  readonly kind: string;
  /** Resolves once the store answers (a query, for a database); rejects when it cannot. */
  health(): Promise<void>;
  dispose(options?: { close?: boolean }): Promise<void>;
}

/** Options of {@link LeaseRegistry}. */
export interface RegistryOptions {
  /** The manager's clock (a SimulatedClock in tests). Default: real time. */
  clock?: ExpireClock;
  store?: LeaseStore;
  /** Where failed expiry closes go. Default: console.error. */
  onCloseError?: (id: string, error: unknown) => void;
  /** The manager's metrics go there (default: the global meter provider). */
  meterProvider?: MeterProvider;
}

/**
 * A lease registry in the shape of the Go registry expire server: register and
 * refresh with `ExpireProtocol.update`, unregister with `ExpireProtocol.close`,
 * and let the expiry close unregister leases nobody refreshed.
 */
export class LeaseRegistry implements Registry {
  readonly store: LeaseStore;
  readonly manager: ExpireManager;
  readonly protocol: ExpireProtocol;
  readonly #clock: ExpireClock | undefined;
  readonly #deadlines = new Map<string, number>();
  readonly kind = 'memory';

  /** Which store calls fail on purpose: the store's. */
  get faults(): Faults {
    return this.store.faults;
  }

  constructor(options: RegistryOptions = {}) {
    this.store = options.store ?? new LeaseStore();
    this.#clock = options.clock;
    this.manager = createExpireManager({
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.meterProvider ? { meterProvider: options.meterProvider } : {}),
      onCloseError: options.onCloseError ?? ((id, error) => console.error(`registry: expiry of ${id} failed:`, error)),
    });
    this.protocol = createExpireProtocol(this.manager);
  }

  now(): number {
    return this.#clock ? this.#clock.now() : Date.now();
  }

  /**
   * Registers or refreshes a lease; `created` tells which. `data` `undefined` keeps a
   * refreshed lease's data (`null` for a new one). A failed store call keeps the old deadline.
   */
  register(id: string, ttlMs: number, data: unknown, fail?: boolean): Promise<{ created: boolean; lease: Lease }> {
    return this.protocol.update(id, async () => {
      const created = !this.manager.has(id);
      // Only a live lease's data is kept: a store entry left by a failed expiry close is stale.
      const kept = data !== undefined ? data : created ? null : (this.store.get(id)?.data ?? null);
      await this.store.register({ id, data: kept, registeredAt: this.now() }, fail);
      const expiresAt = this.now() + ttlMs;
      this.#deadlines.set(id, expiresAt);
      return {
        value: { created, lease: { id, data: kept, state: 'active' as const, expiresAt } },
        expiresAt,
        close: async () => {
          this.#deadlines.delete(id);
          await this.store.unregister(id);
        },
      };
    });
  }

  /** Unregisters a lease: `false` when it is unknown or already expired. A failed store call keeps it. */
  async unregister(id: string, fail?: boolean): Promise<boolean> {
    const closed = await this.protocol.close(id, () => this.store.unregister(id, fail));
    if (closed) this.#deadlines.delete(id);
    return closed;
  }

  /** A live lease, or `undefined` when unknown, expired or closing. */
  get(id: string): Lease | undefined {
    const state = this.manager.state(id);
    const stored = this.store.get(id);
    const expiresAt = this.#deadlines.get(id);
    if (!state || !stored || expiresAt === undefined) return undefined;
    return { id, data: stored.data, state, expiresAt };
  }

  /** Every live lease. */
  list(): Lease[] {
    return [...this.#deadlines.keys()].flatMap((id) => this.get(id) ?? []);
  }

  /** The in-memory store always answers. */
  async health(): Promise<void> {}

  /** Ends the registry; `{ close: true }` unregisters every live lease first (a graceful shutdown). */
  dispose(options?: DisposeOptions): Promise<void> {
    return this.manager.dispose(options);
  }
}
