/**
 * The seed-shaped lease server with one bug each: what the model-based paths
 * must catch (issue 17). Each overrides `request`, the update dance of
 * {@link ExpireServer}: Stop, call the backend, Start on failure, New on success.
 */
import { ExpireServer } from '../support/expire-server.js';

/** (a) After a failed update, re-arms with a fresh TTL instead of resuming the saved deadline (breaks R1.2). */
export class FreshTtlOnFailure extends ExpireServer {
  override request(id: string): Promise<void> {
    return this.executor(id).asyncExec(async () => {
      this.manager.stop(id);
      try {
        await this.backend.open(id);
      } catch (error) {
        this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
        throw error;
      }
      this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
    });
  }
}

/** (b) Does not pause while the update runs: the entity can expire in the middle of it (breaks R1.1). */
export class NoPauseDuringUpdate extends ExpireServer {
  override request(id: string): Promise<void> {
    return this.executor(id).asyncExec(async () => {
      try {
        await this.backend.open(id);
      } catch (error) {
        this.manager.start(id);
        throw error;
      }
      this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
    });
  }
}

/** (c) Extends the deadline when an update starts: re-arms a full TTL, then pauses (breaks R1.2). */
export class ExtendsOnStop extends ExpireServer {
  override request(id: string): Promise<void> {
    return this.executor(id).asyncExec(async () => {
      if (this.manager.has(id) && this.manager.state(id) !== 'expired') {
        this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
      }
      this.manager.stop(id);
      try {
        await this.backend.open(id);
      } catch (error) {
        this.manager.start(id);
        throw error;
      }
      this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
    });
  }
}

/**
 * (d) After a failed update that changed nothing, "restores" the lease it found
 * gone (closed, closing or deleted) with its last deadline: closes it a second
 * time once that deadline has passed (breaks R4).
 */
export class RestoresAfterFailure extends ExpireServer {
  readonly #deadlines = new Map<string, number>();
  override request(id: string): Promise<void> {
    return this.executor(id).asyncExec(async () => {
      const live = this.manager.stop(id);
      try {
        await this.backend.open(id);
      } catch (error) {
        const deadline = this.#deadlines.get(id);
        if (live || deadline === undefined) this.manager.start(id);
        else this.manager.new(id, deadline, () => this.backend.close(id), { executor: this.closeExecutor! });
        throw error;
      }
      this.#deadlines.set(id, this.now() + this.ttl);
      this.manager.new(id, this.now() + this.ttl, () => this.backend.close(id), { executor: this.closeExecutor! });
    });
  }
}
