import { type ExpireManager, type Executor, SerialExecutor, createExpireProtocol } from '../../src/index.js';

/** What the Go scenarios drive: a server that registers and unregisters leases. */
export interface LeaseServer {
  request(id: string): Promise<void>;
  close(id: string): Promise<'closed' | 'already closed'>;
}

/** A backend whose opens and closes can be made to fail, counting closes per id. */
export class Backend {
  failOpen = false;
  failClose = false;
  readonly closes = new Map<string, number>();
  /** Every call waits on this first: a property test hands in its scheduler here. */
  constructor(readonly wait: (id: string) => Promise<unknown> = async () => {}) {}
  async open(id: string): Promise<void> {
    await this.wait(id);
    if (this.failOpen) throw new Error(`open ${id} failed`);
  }
  async close(id: string): Promise<void> {
    await this.wait(id);
    if (this.failClose) throw new Error(`close ${id} failed`);
    this.closes.set(id, (this.closes.get(id) ?? 0) + 1);
  }
}

/**
 * The seed's expireServer: Stop, call next, Start on failure, New on success; Close via Stop/Delete.
 * Closes run on the id's executor, or on `closeExecutor` when given (a model test holds them there).
 */
export class ExpireServer implements LeaseServer {
  readonly #executors = new Map<string, SerialExecutor>();
  constructor(
    readonly manager: ExpireManager,
    readonly now: () => number,
    readonly ttl: number,
    readonly backend: Backend,
    readonly closeExecutor?: Executor,
  ) {}

  executor(id: string): SerialExecutor {
    let executor = this.#executors.get(id);
    if (!executor) this.#executors.set(id, (executor = new SerialExecutor()));
    return executor;
  }

  request(id: string): Promise<void> {
    const executor = this.executor(id);
    return executor.asyncExec(async () => {
      this.manager.stop(id);
      try {
        await this.backend.open(id);
      } catch (error) {
        this.manager.start(id);
        throw error;
      }
      this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor ?? executor });
    });
  }

  close(id: string): Promise<'closed' | 'already closed'> {
    return this.executor(id).asyncExec(async () => {
      if (!this.manager.stop(id)) return 'already closed' as const;
      try {
        await this.backend.close(id);
      } catch (error) {
        this.manager.start(id);
        throw error;
      }
      this.manager.delete(id);
      return 'closed' as const;
    });
  }
}


/** The same server written with {@link createExpireProtocol}: the dance is the library's. */
export class ProtocolServer implements LeaseServer {
  readonly protocol;
  constructor(
    readonly manager: ExpireManager,
    readonly now: () => number,
    readonly ttl: number,
    readonly backend: Backend,
  ) {
    this.protocol = createExpireProtocol(manager);
  }

  request(id: string): Promise<void> {
    return this.protocol.update(id, async () => {
      await this.backend.open(id);
      return { value: undefined, expiresAt: this.now() + this.ttl, close: () => this.backend.close(id) };
    });
  }

  async close(id: string): Promise<'closed' | 'already closed'> {
    return (await this.protocol.close(id, () => this.backend.close(id))) ? 'closed' : 'already closed';
  }
}
