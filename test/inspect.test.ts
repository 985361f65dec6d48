import { type StatelyInspectionEvent, createInspector } from '@statelyai/inspect';
import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { createExpireManager, inspectSanitizers } from '../src/index.js';
import { flush } from './helpers.js';

describe('inspection', () => {
  it('shows the manager and every entity, and a stop → start → expiry as snapshots in order', async () => {
    const events: StatelyInspectionEvent[] = [];
    const inspector = createInspector({ send: (event) => void events.push(event) }, inspectSanitizers);
    const clock = new SimulatedClock();
    const manager = createExpireManager({ clock, inspect: inspector.inspect });
    manager.new('lease-1', 100, () => {});
    manager.new('lease-2', 500, () => {});
    manager.stop('lease-1');
    clock.increment(50);
    manager.start('lease-1');
    clock.increment(50);
    await flush();
    // The inspector delivers on a later macrotask (its idle callback).
    await vi.waitFor(() => expect(events.filter((e) => e.type === '@xstate.snapshot').length).toBeGreaterThan(8));

    const actors = events.filter((e) => e.type === '@xstate.actor');
    const managerActor = actors.find((e) => e.name === 'expireManager');
    expect(managerActor).toBeDefined();
    // Each entity appears under its id, as a child of the manager.
    const entities = actors.filter((e) => e.parentId === managerActor?.sessionId);
    expect(entities.map((e) => e.name)).toEqual(['lease-1', 'lease-2']);
    expect(entities.map((e) => e.snapshot.context)).toEqual([
      { id: 'lease-1', deadline: 100 },
      { id: 'lease-2', deadline: 500 },
    ]);
    expect(JSON.parse(entities[0]!.definition!)).toMatchObject({ id: 'expiration', initial: 'active' });

    const lease1 = entities[0]!.sessionId;
    const values = events
      .filter((e) => e.type === '@xstate.snapshot' && e.sessionId === lease1)
      .map((e) => JSON.stringify((e as { snapshot: { value: unknown } }).snapshot.value));
    expect(values).toEqual([
      '"active"',
      '"paused"',
      '"active"',
      '{"expired":"queued"}',
      '{"expired":"closing"}',
      '"closed"',
    ]);
    // The events that drove it are visible too, sanitized: the closing notice names its sender by id.
    const notice = events.find((e) => e.type === '@xstate.event' && e.event.type === 'expiration.closing');
    expect(notice && 'event' in notice && notice.event).toEqual({ type: 'expiration.closing', id: 'lease-1', ref: 'lease-1' });
    await manager.dispose();
  });

  it('sanitizes the manager context to its size and first ids', async () => {
    const events: StatelyInspectionEvent[] = [];
    const inspector = createInspector({ send: (event) => void events.push(event) }, inspectSanitizers);
    const manager = createExpireManager({ clock: new SimulatedClock(), inspect: inspector.inspect });
    manager.new('a', 10, () => {});
    await vi.waitFor(() => expect(events.length).toBeGreaterThan(3));
    const contexts = events.flatMap((e) =>
      e.type === '@xstate.snapshot' ? [(e.snapshot as { context?: Record<string, unknown> }).context] : [],
    );
    expect(contexts.filter((c) => c && 'size' in c).at(-1)).toEqual({ size: 1, ids: ['a'], closing: 0 });
  });
});
