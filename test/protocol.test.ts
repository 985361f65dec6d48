import { describe, expect, it } from 'vitest';
import { createExpireProtocol } from '../src/index.js';
import { deferred, flush, managerOnSimulatedClock } from './helpers.js';

function setup() {
  const harness = managerOnSimulatedClock();
  const protocol = createExpireProtocol(harness.manager);
  return { ...harness, protocol };
}

describe('ExpireProtocol.update', () => {
  it('pauses expiration while the update runs and resolves with its value', async () => {
    const { manager, protocol, close, clock } = setup();
    await protocol.update('a', () => ({ value: 1, expiresAt: 100, close: close('a') }));
    const running = deferred<void>();
    const updating = protocol.update('a', async () => {
      await running.promise;
      return { value: 2, expiresAt: 300, close: close('a') };
    });
    await flush();
    expect(manager.state('a')).toBe('paused');
    clock.increment(200); // past the old deadline: paused, so nothing happens
    await flush();
    expect(manager.state('a')).toBe('paused');
    running.resolve();
    await expect(updating).resolves.toBe(2);
    expect(manager.state('a')).toBe('active');
  });

  it('a failed update resumes the same deadline and rethrows', async () => {
    const { manager, protocol, close, clock, closes } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 100, close: close('a') }));
    clock.increment(50);
    await expect(
      protocol.update('a', () => {
        throw new Error('refresh failed');
      }),
    ).rejects.toThrow('refresh failed');
    expect(manager.state('a')).toBe('active');
    clock.increment(50);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([100]);
  });

  it('an update that returns a new id retires the old one without closing it', async () => {
    const { manager, protocol, close, clock, closesOf } = setup();
    await protocol.update('old', () => ({ value: undefined, expiresAt: 100, close: close('old') }));
    await protocol.update('old', () => ({ value: undefined, id: 'new', expiresAt: 200, close: close('new') }));
    expect(manager.has('old')).toBe(false);
    expect(manager.state('new')).toBe('active');
    clock.increment(300);
    await flush();
    expect(closesOf('old')).toHaveLength(0);
    expect(closesOf('new')).toHaveLength(1);
  });

  it('an error after a successful update (arming fails) closes the old expiration gracefully (R2)', async () => {
    const { manager, protocol, close, closesOf } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 100, close: close('a') }));
    await expect(
      protocol.update('a', () => ({ value: undefined, expiresAt: Number.NaN, close: close('a2') })),
    ).rejects.toThrow(TypeError);
    await flush();
    expect(closesOf('a')).toHaveLength(1);
    expect(closesOf('a2')).toHaveLength(0);
    expect(manager.has('a')).toBe(false);
  });
});

describe('ExpireProtocol.close', () => {
  it('closes once and deletes; a second close reports already closed without calling', async () => {
    const { manager, protocol, close, clock, closes } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 100, close: close('expiry') }));
    let calls = 0;
    await expect(protocol.close('a', () => void calls++)).resolves.toBe(true);
    await expect(protocol.close('a', () => void calls++)).resolves.toBe(false);
    expect(calls).toBe(1);
    expect(manager.has('a')).toBe(false);
    clock.increment(1000);
    await flush();
    expect(closes).toHaveLength(0);
  });

  it('a failed close keeps the expiration at its deadline and rethrows', async () => {
    const { manager, protocol, close, clock, closes } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 100, close: close('a') }));
    await expect(
      protocol.close('a', () => {
        throw new Error('backend down');
      }),
    ).rejects.toThrow('backend down');
    expect(manager.state('a')).toBe('active');
    clock.increment(100);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([100]);
  });

  it('is serialized with the expiry close of the same id', async () => {
    const { protocol, clock } = setup();
    const log: string[] = [];
    const expiryClose = deferred();
    await protocol.update('a', () => ({
      value: undefined,
      expiresAt: 10,
      close: async () => {
        log.push('expiry:start');
        await expiryClose.promise;
        log.push('expiry:end');
      },
    }));
    clock.increment(10);
    await flush();
    const explicit = protocol.close('a', () => void log.push('explicit'));
    await flush();
    expect(log).toEqual(['expiry:start']);
    expiryClose.resolve();
    await expect(explicit).resolves.toBe(false);
    expect(log).toEqual(['expiry:start', 'expiry:end']);
  });
});

describe('ExpireProtocol.fail', () => {
  it('force-expires after a post-update error: the entity closes gracefully, once', async () => {
    const { protocol, close, closesOf, manager } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 1000, close: close('a') }));
    await expect(protocol.fail('a')).resolves.toBe(true);
    await flush();
    expect(closesOf('a')).toHaveLength(1);
    expect(manager.has('a')).toBe(false);
    await expect(protocol.fail('a')).resolves.toBe(false);
    await flush();
    expect(closesOf('a')).toHaveLength(1);
  });
});

describe('ExpireProtocol executors', () => {
  it('drops an id executor once it is idle and the id has no expiration', async () => {
    const { protocol, close, clock } = setup();
    await protocol.update('a', () => ({ value: undefined, expiresAt: 10, close: close('a') }));
    expect(protocol.executors).toBe(1);
    clock.increment(10);
    await flush();
    expect(protocol.executors).toBe(0);
    await protocol.close('b', () => {});
    expect(protocol.executors).toBe(0);
  });

  it('rejects a bad id with a TypeError', () => {
    const { protocol } = setup();
    expect(() => protocol.update('', () => ({ value: 1, expiresAt: 1, close: () => {} }))).toThrow(TypeError);
    expect(() => protocol.close(1 as never, () => {})).toThrow('ExpireProtocol.close');
  });
});
