import type { MeterProvider } from '@opentelemetry/api';
import {
  type DurableExpireManager,
  type DurableExpireProtocol,
  type DurableStore,
  createDurableExpireManager,
  createDurableExpireProtocol,
} from '../../src/durable/index.js';
import type { Lease, Registry } from './registry.js';
import type { Faults } from './store.js';

/**
 * The lease registry on a durable manager: each lease is an entity in
 * PostgreSQL (PGlite or a server), its data and deadline included, so it
 * survives a crash and a restart, and several registry processes can share
 * the leases. Its expiry close unregisters it — once, on whichever process
 * claims it.
 */
export class DurableLeaseRegistry implements Registry {
  readonly faults: Faults = { register: false, unregister: false };

  private constructor(
    readonly manager: DurableExpireManager,
    readonly protocol: DurableExpireProtocol,
    readonly store: DurableStore,
  ) {}

  /** `pglite` or `postgres`. */
  get kind(): string {
    return this.store.kind;
  }

  /** One query: the store answers (the server checks how fast). */
  async health(): Promise<void> {
    await this.store.query('SELECT 1');
  }

  /** Opens the registry on `store`; past-due leases left by a crash are unregistered at once. */
  static async open(
    store: DurableStore,
    {
      onCloseError,
      log = console.log,
      meterProvider,
    }: { onCloseError?: (id: string, error: unknown) => void; log?: (line: string) => void; meterProvider?: MeterProvider } = {},
  ): Promise<DurableLeaseRegistry> {
    const manager = await createDurableExpireManager({
      store,
      namespace: 'leases',
      ...(meterProvider ? { meterProvider } : {}),
      closers: {
        // Unregistering is idempotent on (id, generation): a retry after a crash changes nothing.
        unregister: ({ id, generation, deadline }) =>
          log(`unregistered ${id} (generation ${generation}): deadline ${deadline}, closed at ${Date.now()}`),
      },
      onCloseError: onCloseError ?? ((id, error) => console.error(`registry: expiry of ${id} failed:`, error)),
    });
    return new DurableLeaseRegistry(manager, createDurableExpireProtocol(manager), store);
  }

  async register(id: string, ttlMs: number, data: unknown, fail = this.faults.register) {
    const created = await this.protocol.update(id, async () => {
      const current = await this.manager.get(id);
      if (fail) throw new Error(`store: register ${id} failed (fault injected)`);
      // No `data` keeps a live lease's data; the deadline is the database's now + ttlMs.
      const kept = data !== undefined ? data : (current?.data ?? null);
      return { value: current === undefined, expiresAt: { ttlMs }, closer: 'unregister', data: kept };
    });
    const lease = await this.get(id);
    if (!lease) throw new Error(`registry: ${id} expired as it was registered`);
    return { created, lease };
  }

  unregister(id: string, fail = this.faults.unregister): Promise<boolean> {
    return this.protocol.close(id, () => {
      if (fail) throw new Error(`store: unregister ${id} failed (fault injected)`);
    });
  }

  async get(id: string): Promise<Lease | undefined> {
    const entity = await this.manager.get(id);
    return entity && { id, data: entity.data, state: entity.state, expiresAt: entity.deadline };
  }

  async list(): Promise<Lease[]> {
    return (await this.manager.list()).map((e) => ({ id: e.id, data: e.data, state: e.state, expiresAt: e.deadline }));
  }

  /** Stops this process; the leases stay in the database (`{ close: true }` unregisters them all first). */
  dispose(options?: { close?: boolean }): Promise<void> {
    return this.manager.dispose(options);
  }
}
