/**
 * The scenarios of the Go original's users (the timeout and registry expire
 * servers and their tests), written against a small server shaped like the
 * seed's expireServer example.
 */
import { describe, expect, it } from 'vitest';
import { flush, managerOnSimulatedClock } from './helpers.js';
import { Backend, ExpireServer, ProtocolServer } from './support/expire-server.js';

describe.each([
  ['the seed-shaped server on the raw API', ExpireServer],
  ['a server on ExpireProtocol', ProtocolServer],
])('Go scenarios: %s', (_name, Server) => {
  function serverOnSimulatedClock(ttl = 100) {
    const harness = managerOnSimulatedClock();
    const backend = new Backend();
    const server = new Server(harness.manager, () => harness.clock.now(), ttl, backend);
    return { ...harness, backend, server };
  }

  it('expires at the deadline and not before', async () => {
    const { clock, backend, server } = serverOnSimulatedClock(100);
    await server.request('c');
    clock.increment(99);
    await flush();
    expect(backend.closes.get('c')).toBeUndefined();
    clock.increment(1);
    await flush();
    expect(backend.closes.get('c')).toBe(1);
  });

  it('a refresh before the timeout moves the deadline', async () => {
    const { clock, backend, server } = serverOnSimulatedClock(100);
    await server.request('c');
    clock.increment(60);
    await server.request('c');
    clock.increment(60); // 120: past the first deadline
    await flush();
    expect(backend.closes.get('c')).toBeUndefined();
    clock.increment(40); // 160: the refreshed one
    await flush();
    expect(backend.closes.get('c')).toBe(1);
  });

  it('close before the timeout, then no second close', async () => {
    const { clock, backend, server, manager } = serverOnSimulatedClock(100);
    await server.request('c');
    clock.increment(50);
    await expect(server.close('c')).resolves.toBe('closed');
    expect(manager.has('c')).toBe(false);
    clock.increment(1000);
    await flush();
    expect(backend.closes.get('c')).toBe(1);
  });

  it('close after the timeout is a quiet no-op', async () => {
    const { clock, backend, server } = serverOnSimulatedClock(100);
    await server.request('c');
    clock.increment(100);
    await flush();
    expect(backend.closes.get('c')).toBe(1);
    await expect(server.close('c')).resolves.toBe('already closed');
    expect(backend.closes.get('c')).toBe(1);
  });

  it('a failed refresh resumes the same deadline', async () => {
    const { clock, backend, server, manager } = serverOnSimulatedClock(100);
    await server.request('c'); // deadline 100
    clock.increment(70);
    backend.failOpen = true;
    await expect(server.request('c')).rejects.toThrow('open c failed');
    expect(manager.state('c')).toBe('active');
    clock.increment(29); // 99
    await flush();
    expect(backend.closes.get('c')).toBeUndefined();
    clock.increment(1); // 100, the old deadline exactly
    await flush();
    expect(backend.closes.get('c')).toBe(1);
  });

  it('a failed close keeps the expiration, which closes it later', async () => {
    const { clock, backend, server, manager } = serverOnSimulatedClock(100);
    await server.request('c');
    backend.failClose = true;
    await expect(server.close('c')).rejects.toThrow('close c failed');
    expect(manager.state('c')).toBe('active');
    backend.failClose = false;
    clock.increment(100);
    await flush();
    expect(backend.closes.get('c')).toBe(1);
    expect(manager.has('c')).toBe(false);
  });

  it('1000 concurrent request/close pairs with zero TTL close each one exactly once', async () => {
    const { clock, backend, server, manager, errors } = serverOnSimulatedClock(0);
    const pairs: Promise<'closed' | 'already closed'>[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = `c${i}`;
      pairs.push(
        (async () => {
          await server.request(id);
          // Odd pairs let the zero-TTL timers fire (theirs and others') before closing.
          if (i % 2) clock.increment(0);
          return server.close(id);
        })(),
      );
    }
    const results = await Promise.all(pairs);
    clock.increment(0);
    await flush();
    expect(errors).toEqual([]);
    expect(backend.closes.size).toBe(1000);
    expect([...backend.closes.values()].every((n) => n === 1)).toBe(true);
    expect(manager.size()).toBe(0);
    // Both paths raced: some pairs were closed by expiry first, some explicitly.
    expect(results.filter((r) => r === 'already closed').length).toBeGreaterThan(0);
    expect(results.filter((r) => r === 'closed').length).toBeGreaterThan(0);
  });

  it('1000 concurrent pairs where expiry wins: still exactly one close each', async () => {
    const { clock, backend, server, manager } = serverOnSimulatedClock(0);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => server.request(`c${i}`)));
    clock.increment(0); // every expiry is queued on its executor
    const closes = Array.from({ length: 1000 }, (_, i) => server.close(`c${i}`));
    const results = await Promise.all(closes);
    await flush();
    expect(backend.closes.size).toBe(1000);
    expect([...backend.closes.values()].every((n) => n === 1)).toBe(true);
    // Each explicit close ran behind the queued expiry close on the same executor.
    expect(results.every((r) => r === 'already closed')).toBe(true);
    expect(manager.size()).toBe(0);
  });
});
