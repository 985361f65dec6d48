import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { otel } from '../support/otel.js';
import { T0, durableManager, eventually, useDatabase } from './support.js';

describe('durable telemetry (PGlite)', () => {
  const database = useDatabase('pglite');
  const sdk = otel();
  afterAll(() => sdk.shutdown());
  const providers = { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider };

  it('counts entities by state and namespace, closes by outcome and closer, lateness, and reclaims', async () => {
    const db = database();
    await db.clock.set(T0);
    const a = await durableManager(db, { ...providers, hold: true });
    const namespace = a.manager.namespace;
    // B shares A's namespace: it takes over A's close once A's claim runs out.
    const b = await durableManager(db, { ...providers, namespace });
    await a.manager.new('x', T0 + 100, { closer: 'lease' });
    await a.manager.new('y', T0 + 10_000, { closer: 'session' });
    await a.manager.new('z', T0 + 10_000, { closer: 'lease' });
    await a.manager.stop('z');
    // Both managers observe the namespace: one point per state.
    expect(await sdk.value('xstate_expire.entities', { state: 'active', namespace })).toBe(2);
    expect(await sdk.value('xstate_expire.entities', { state: 'paused', namespace })).toBe(1);

    await db.clock.advance(150);
    await a.manager.poll();
    await eventually(() => expect(a.closes.map((c) => c.entity.id)).toEqual(['x']));
    // A's claim runs out (60 s in support.ts) while its close still runs: B takes it over.
    await db.clock.advance(60_001);
    await b.manager.poll();
    await eventually(() => expect(b.closes.map((c) => c.entity.id)).toContain('x'));
    expect(await sdk.value('xstate_expire.reclaims')).toBe(1);

    a.closes[0]!.settle(); // too late: B holds it now
    await eventually(async () => expect(await sdk.value('xstate_expire.closes', { outcome: 'timeout' })).toBe(1));
    await eventually(async () =>
      expect(await sdk.value('xstate_expire.closes', { outcome: 'ok', closer: 'lease' })).toBeGreaterThanOrEqual(1),
    );

    const lateness = await sdk.histogram('xstate_expire.close.lateness');
    const lease = lateness.find((p) => p.attributes.closer === 'lease')!;
    // A started 50 ms late; B's takeover after the claim ran out, 60 s later.
    expect(lease.value.min).toBeGreaterThanOrEqual(49);
    expect(lease.value.max).toBeGreaterThanOrEqual(60_000);

    const spans = sdk.spans().filter((s) => s.attributes['xstate_expire.entity.id'] === 'x');
    expect(spans.map((s) => s.attributes['xstate_expire.close.attempt']).sort()).toEqual([1, 2]);
    const first = spans.find((s) => s.attributes['xstate_expire.close.attempt'] === 1)!;
    expect(first.attributes['xstate_expire.close.outcome']).toBe('timeout');
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans.find((s) => s.attributes['xstate_expire.close.attempt'] === 2)!.attributes['xstate_expire.close.outcome']).toBe(
      'ok',
    );
    await a.manager.dispose();
    await b.manager.dispose();
    // Disposed managers no longer report the namespace.
    expect(await sdk.value('xstate_expire.entities', { namespace })).toBe(0);
  });

  it('records a failed close as an error, with the closer', async () => {
    const db = database();
    await db.clock.set(T0);
    const { manager, errors } = await durableManager(db, {
      ...providers,
      closers: {
        lease: () => {
          throw new Error('backend down');
        },
      },
    });
    await manager.new('e', T0 + 10, { closer: 'lease' });
    await db.clock.advance(20);
    await manager.poll();
    await eventually(async () => expect(await sdk.value('xstate_expire.closes', { outcome: 'error', closer: 'lease' })).toBe(1));
    expect(errors.map((e) => e.id)).toEqual(['e']);
    const span = sdk.spans().find((s) => s.attributes['xstate_expire.entity.id'] === 'e')!;
    expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'backend down' });
    await manager.dispose();
  });
});
