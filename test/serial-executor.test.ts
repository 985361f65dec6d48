import { describe, expect, it, vi } from 'vitest';
import { SerialExecutor } from '../src/index.js';
import { deferred, flush } from './helpers.js';

describe('SerialExecutor', () => {
  it('runs tasks one at a time in FIFO order', async () => {
    const executor = new SerialExecutor();
    const log: string[] = [];
    const first = deferred();
    const a = executor.asyncExec(async () => {
      log.push('a:start');
      await first.promise;
      log.push('a:end');
    });
    const b = executor.asyncExec(() => void log.push('b'));
    const c = executor.asyncExec(async () => void log.push('c'));
    await flush();
    expect(log).toEqual(['a:start']);
    expect(executor.pending).toBe(3);
    first.resolve();
    await Promise.all([a, b, c]);
    expect(log).toEqual(['a:start', 'a:end', 'b', 'c']);
    expect(executor.pending).toBe(0);
  });

  it('never runs a task inside asyncExec itself', () => {
    const executor = new SerialExecutor();
    const task = vi.fn();
    void executor.asyncExec(task);
    expect(task).not.toHaveBeenCalled();
  });

  it('settles each promise with its own task, and a throwing task does not break the queue', async () => {
    const executor = new SerialExecutor();
    const boom = new Error('boom');
    const failed = executor.asyncExec(() => {
      throw boom;
    });
    const rejected = executor.asyncExec(() => Promise.reject(boom));
    const next = executor.asyncExec(() => 42);
    await expect(failed).rejects.toBe(boom);
    await expect(rejected).rejects.toBe(boom);
    await expect(next).resolves.toBe(42);
  });

  it('leaves a rejection nobody awaits visible as unhandled', async () => {
    const executor = new SerialExecutor();
    const unhandled = vi.fn();
    const listeners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', unhandled);
    try {
      void executor.asyncExec(() => Promise.reject(new Error('ignored')));
      await flush();
      await flush();
      expect(unhandled).toHaveBeenCalledTimes(1);
    } finally {
      process.removeAllListeners('unhandledRejection');
      for (const listener of listeners) process.on('unhandledRejection', listener);
    }
  });

  it('rejects a task that is not a function with a TypeError', () => {
    const executor = new SerialExecutor();
    expect(() => executor.asyncExec(42 as never)).toThrow(TypeError);
    expect(executor.pending).toBe(0);
  });
});
