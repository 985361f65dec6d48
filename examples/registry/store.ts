/** One registered lease, as the backing store keeps it. */
export interface StoredLease {
  id: string;
  data: unknown;
  registeredAt: number;
}

/** Which store calls fail on purpose, to show R1.2 and the failed-close path. */
export interface Faults {
  register: boolean;
  unregister: boolean;
}

/**
 * The registry's backing store: an in-memory table standing in for a database
 * or a remote registry. Its calls are async, like the real thing, and can be
 * made to fail.
 */
export class LeaseStore {
  readonly #leases = new Map<string, StoredLease>();
  /** How many times each id was unregistered: a lease must be closed exactly once. */
  readonly unregistered = new Map<string, number>();
  readonly faults: Faults = { register: false, unregister: false };

  has(id: string): boolean {
    return this.#leases.has(id);
  }

  get(id: string): StoredLease | undefined {
    return this.#leases.get(id);
  }

  get size(): number {
    return this.#leases.size;
  }

  async register(lease: StoredLease, fail = this.faults.register): Promise<void> {
    await Promise.resolve();
    if (fail) throw new Error(`store: register ${lease.id} failed (fault injected)`);
    this.#leases.set(lease.id, lease);
  }

  async unregister(id: string, fail = this.faults.unregister): Promise<void> {
    await Promise.resolve();
    if (fail) throw new Error(`store: unregister ${id} failed (fault injected)`);
    this.#leases.delete(id);
    this.unregistered.set(id, (this.unregistered.get(id) ?? 0) + 1);
  }
}
