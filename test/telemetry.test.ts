import { SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createExpireManager } from '../src/index.js';
import { ExpireTelemetry } from '../src/telemetry/telemetry.js';
import { deferred, flush } from './helpers.js';
import { otel } from './support/otel.js';

let sdk: ReturnType<typeof otel> | undefined;
afterEach(async () => {
  await sdk?.shutdown();
  sdk = undefined;
});

function setup() {
  sdk = otel();
  const clock = new SimulatedClock();
  const errors: string[] = [];
  const manager = createExpireManager({
    clock,
    meterProvider: sdk.meterProvider,
    tracerProvider: sdk.tracerProvider,
    onCloseError: (id) => errors.push(id),
  });
  return { sdk, clock, manager, errors };
}

describe('in-memory telemetry', () => {
  it('counts live entities by state in the entities gauge', async () => {
    const { sdk, clock, manager } = setup();
    manager.new('a', 1_000, () => {});
    manager.new('b', 1_000, () => {});
    manager.new('c', 5_000, () => {});
    manager.stop('b');
    expect(await sdk.value('xstate_expire.entities', { state: 'active' })).toBe(2);
    expect(await sdk.value('xstate_expire.entities', { state: 'paused' })).toBe(1);
    expect(await sdk.value('xstate_expire.entities', { state: 'expired' })).toBe(0);
    clock.increment(1_000);
    await flush();
    expect(await sdk.value('xstate_expire.entities', { state: 'active' })).toBe(1);
    await manager.dispose();
  });

  it('counts closes by outcome, with their lateness and duration, each in a span', async () => {
    const { sdk, clock, manager, errors } = setup();
    const slow = deferred();
    let active: string | undefined;
    manager.new('ok', 100, () => {});
    // Renewed: generation 1, and this close replaces the first.
    manager.new('ok', 200, () => {
      active = trace.getActiveSpan()?.spanContext().spanId;
    });
    manager.new('boom', 200, () => {
      throw new Error('boom');
    });
    manager.new('slow', 200, () => slow.promise);
    clock.increment(250);
    await flush();
    expect(errors).toEqual(['boom']);
    expect(await sdk.value('xstate_expire.closes', { outcome: 'ok' })).toBe(1);
    expect(await sdk.value('xstate_expire.closes', { outcome: 'error' })).toBe(1);

    const lateness = await sdk.histogram('xstate_expire.close.lateness');
    // Three closes started 50 ms after their deadline (200), on the simulated clock.
    expect(lateness.reduce((n, p) => n + p.value.count, 0)).toBe(3);
    expect(lateness.reduce((n, p) => n + (p.value.sum ?? 0), 0)).toBe(150);
    const duration = await sdk.histogram('xstate_expire.close.duration');
    expect(duration.map((p) => p.attributes.outcome).sort()).toEqual(['error', 'ok']);

    const disposing = manager.dispose(); // the slow close's signal aborts
    slow.resolve();
    await disposing;
    expect(await sdk.value('xstate_expire.closes', { outcome: 'aborted' })).toBe(1);

    const spans = sdk.spans();
    expect(spans.map((s) => s.name)).toEqual(['xstate_expire.close', 'xstate_expire.close', 'xstate_expire.close']);
    const byId = Object.fromEntries(spans.map((s) => [s.attributes['xstate_expire.entity.id'], s]));
    expect(byId.ok!.attributes).toMatchObject({
      'xstate_expire.entity.generation': 1,
      'xstate_expire.close.attempt': 1,
      'xstate_expire.close.outcome': 'ok',
    });
    // The close ran with its span as the active one.
    expect(active).toBe(byId.ok!.spanContext().spanId);
    expect(byId.boom!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(byId.boom!.events.map((e: { name: string }) => e.name)).toEqual(['exception']);
    expect(byId.slow!.attributes['xstate_expire.close.outcome']).toBe('aborted');
  });

  it('stops reporting the gauge once disposed', async () => {
    const { sdk, manager } = setup();
    manager.new('a', 1_000, () => {});
    await manager.dispose();
    expect(await sdk.points('xstate_expire.entities')).toEqual([]);
  });

  it('is disabled, and leaves closes unwrapped, with no SDK registered', async () => {
    expect(new ExpireTelemetry().enabled).toBe(false);
    const clock = new SimulatedClock();
    const manager = createExpireManager({ clock });
    const close = (): void => {};
    manager.new('a', 1_000, close);
    expect(manager.actorOf('a')!.getSnapshot().context.close).toBe(close);
    await manager.dispose();
  });

  it('rejects providers that are not providers, with a TypeError', () => {
    expect(() => createExpireManager({ meterProvider: {} as never })).toThrow(TypeError);
    expect(() => createExpireManager({ tracerProvider: 1 as never })).toThrow(/tracerProvider/);
  });
});
