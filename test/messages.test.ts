/**
 * The words of every TypeError a caller can get, in full: they name the
 * method, the field and the value, and that is what a user reads.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { SerialExecutor, createExpireManager, createExpireProtocol } from '../src/index.js';
import { deferred, flush, managerOnSimulatedClock } from './helpers.js';

const close = () => {};
const newManager = () => createExpireManager({ clock: new SimulatedClock() });

describe('ExpireManager.new', () => {
  it.each([
    ['', 'ExpireManager.new: id must be a non-empty string, got ""'],
    [42, 'ExpireManager.new: id must be a non-empty string, got 42'],
    [true, 'ExpireManager.new: id must be a non-empty string, got boolean'],
    [undefined, 'ExpireManager.new: id must be a non-empty string, got undefined'],
  ])('id %j', (id, message) => {
    expect(() => newManager().new(id as never, 10, close)).toThrow(new TypeError(message));
  });

  it.each([
    ['x', 'ExpireManager.new: close must be a function, got "x"'],
    [7, 'ExpireManager.new: close must be a function, got 7'],
    [null, 'ExpireManager.new: close must be a function, got null'],
    [{}, 'ExpireManager.new: close must be a function, got object'],
  ])('close %j', (value, message) => {
    expect(() => newManager().new('a', 10, value as never)).toThrow(new TypeError(message));
  });

  it.each([null, {}, { asyncExec: 'run' }])('executor %j', (executor) => {
    expect(() => newManager().new('a', 10, close, { executor: executor as never })).toThrow(
      new TypeError('ExpireManager.new: options.executor must have an asyncExec(task) method'),
    );
  });

  it('a deadline that is not a number, or NaN', () => {
    expect(() => newManager().new('a', Number.NaN, close)).toThrow(
      new TypeError('ExpireManager.new: expiresAt must be a number of milliseconds, a valid Date, or { ttlMs } (a finite number ≥ 0), got NaN'),
    );
    expect(() => newManager().new('a', '10' as never, close)).toThrow(
      new TypeError('ExpireManager.new: expiresAt must be a number of milliseconds, a valid Date, or { ttlMs } (a finite number ≥ 0), got "10"'),
    );
  });
});

describe('ExpireManager calls by id', () => {
  it.each(['stop', 'start', 'expire', 'delete', 'has', 'state', 'actorOf'] as const)('%s', (method) => {
    expect(() => (newManager()[method] as (id: unknown) => unknown)('')).toThrow(
      new TypeError(`ExpireManager.${method}: id must be a non-empty string, got ""`),
    );
  });
});

describe('createExpireManager', () => {
  it.each([
    [{ clock: null }, 'createExpireManager: options.clock must have a now() method'],
    [{ clock: { now: () => 0 } }, 'createExpireManager: options.clock must have a setTimeout() method'],
    [{ onCloseError: 5 }, 'createExpireManager: options.onCloseError must be a function, got 5'],
    [{ onCloseError: null }, 'createExpireManager: options.onCloseError must be a function, got null'],
    [{ signal: {} }, 'createExpireManager: options.signal must be an AbortSignal'],
    [null, 'createExpireManager: options must be an object'],
    [{ inspect: 'yes' }, 'createExpireManager: options.inspect must be an observer or a function'],
  ])('%j', (options, message) => {
    expect(() => createExpireManager(options as never)).toThrow(new TypeError(message));
  });
});

describe('SerialExecutor', () => {
  it('a task that is not a function', () => {
    expect(() => new SerialExecutor().asyncExec('run' as never)).toThrow(
      new TypeError('SerialExecutor.asyncExec: task must be a function, got string'),
    );
  });
});

describe('ExpireProtocol', () => {
  it.each(['executor', 'run', 'update', 'fail', 'close'] as const)('%s with a bad id', (method) => {
    const protocol = createExpireProtocol(newManager());
    const call = () => (protocol[method] as (id: unknown, f?: unknown) => unknown)('', () => undefined);
    expect(call).toThrow(new TypeError(`ExpireProtocol.${method}: id must be a non-empty string, got ""`));
  });

  it('an update on a disposed manager, refused at once or when its turn comes', async () => {
    const manager = newManager();
    const protocol = createExpireProtocol(manager);
    const first = deferred();
    const running = protocol.run('a', () => first.promise);
    const queued = protocol.update('a', () => ({ value: 1, expiresAt: 100, close }));
    await manager.dispose();
    const refused = new TypeError('ExpireProtocol.update: the manager is disposed; "a" was not updated');
    await expect(protocol.update('a', () => ({ value: 1, expiresAt: 100, close }))).rejects.toThrow(refused);
    first.resolve();
    await running;
    await expect(queued).rejects.toThrow(refused);
  });

  it.each([
    [null, 'ExpireProtocol.update: the update must resolve with a renewal { value, expiresAt, close, id? }, got null'],
    [{ value: 1, expiresAt: 100, close, id: 5 }, 'ExpireProtocol.update: renewal.id must be a non-empty string, got 5'],
    [{ value: 1, expiresAt: 100, close: 'x' }, 'ExpireProtocol.update: renewal.close must be a function, got "x"'],
  ])('a renewal %j', async (renewal, message) => {
    const { manager, errors } = managerOnSimulatedClock({ inspect: undefined });
    const protocol = createExpireProtocol(manager);
    await expect(protocol.update('a', () => renewal as never)).rejects.toThrow(new TypeError(message));
    expect(errors).toEqual([]); // a renewal without a usable close has nothing to close, and nothing to report
    expect(manager.size()).toBe(0);
  });
});

describe('ExpireProtocol.update that cannot arm a renewal for another id', () => {
  it('while the manager closes everything: the renewal is closed once, the old id closes', async () => {
    const { manager, closesOf, close: recorded } = managerOnSimulatedClock({ inspect: undefined });
    const protocol = createExpireProtocol(manager);
    await protocol.update('a', () => ({ value: 1, expiresAt: 1000, close: recorded('a') }));
    let draining!: Promise<void>;
    const updating = protocol.update('a', () => {
      draining = manager.dispose({ close: true });
      return { value: 2, id: 'b', expiresAt: 1000, close: recorded('b') };
    });
    await expect(updating).rejects.toThrow('ExpireManager.new: the manager is closing (id "b")');
    await draining;
    await flush();
    expect(closesOf('b')).toHaveLength(1);
    expect(closesOf('a')).toHaveLength(1);
  });
});

describe('ExpireProtocol tasks of one id', () => {
  it('never overlap, while its executor is dropped and made again between them', async () => {
    const protocol = createExpireProtocol(newManager());
    const log: string[] = [];
    const task = (name: string, gate: Promise<void>) => async () => {
      log.push(`${name}:start`);
      await gate;
      log.push(`${name}:end`);
    };
    const one = deferred();
    const two = deferred();
    const first = protocol.run('x', task('one', one.promise));
    const second = protocol.run('x', task('two', two.promise));
    one.resolve();
    await first;
    const third = protocol.run('x', task('three', Promise.resolve()));
    await flush();
    expect(log).toEqual(['one:start', 'one:end', 'two:start']);
    two.resolve();
    await Promise.all([second, third]);
    expect(log).toEqual(['one:start', 'one:end', 'two:start', 'two:end', 'three:start', 'three:end']);
    expect(protocol.executors).toBe(0);
  });
});
