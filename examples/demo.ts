/**
 * `npm start`: a short narrated run on the real clock that shows each of the
 * four requirements happen, as a timeline of state changes and closes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnyActorRef } from 'xstate';
import { createExpireManager } from '../src/index.js';

const t0 = Date.now();
const stamp = () => `+${String(Date.now() - t0).padStart(4)}ms`;
const say = (text: string) => console.log(`${stamp()}  ${text}`);
const closes = new Map<string, number>();

const manager = createExpireManager({
  onCloseError: (id, error) => say(`   ${id}: close failed: ${(error as Error).message}`),
  // Print every state change of every expiration actor (the manager's snapshots have no `value`).
  inspect: (event) => {
    if (event.type !== '@xstate.snapshot') return;
    const { value } = event.snapshot as { value?: unknown };
    if (value === undefined) return;
    const state = typeof value === 'string' ? value : JSON.stringify(value).replace(/[{}"]/g, '');
    say(`   ${(event.actorRef as AnyActorRef).id.padEnd(9)} → ${state}`);
  },
});

const close = (id: string, work?: (signal: AbortSignal) => Promise<void>) => async (signal: AbortSignal) => {
  closes.set(id, (closes.get(id) ?? 0) + 1);
  say(`   ${id}: close #${closes.get(id)} called`);
  await work?.(signal);
};

console.log('xstate-expire demo: leases that expire unless they are being updated\n');

say('R1: lease-a expires in 600 ms; at 200 ms an update starts, takes 300 ms and fails');
manager.new('lease-a', Date.now() + 600, close('lease-a'));
await sleep(200);
manager.stop('lease-a');
say('   update running: expiration paused');
await sleep(300);
manager.start('lease-a');
say('   update failed: expiration resumed with the SAME deadline (600 ms), not a fresh TTL');
await sleep(200);

say('R4: lease-a is closed; stop, start and expire cannot close it again');
manager.stop('lease-a');
manager.start('lease-a');
manager.expire('lease-a');
say(`   lease-a live: ${manager.has('lease-a')}, closes so far: ${closes.get('lease-a')}`);

say('R2: lease-b is updated successfully, then an error happens: it is closed gracefully');
manager.new('lease-b', Date.now() + 5_000, close('lease-b'));
manager.stop('lease-b');
manager.new('lease-b', Date.now() + 5_000, close('lease-b')); // the update succeeded
manager.stop('lease-b');
say('   an error after the update: force-expire');
manager.expire('lease-b');
await sleep(50);

say('R3: lease-c closes slowly; its close signal is scoped to that close');
manager.new('lease-c', Date.now() + 100, close('lease-c', (signal) =>
  new Promise<void>((resolve) => {
    signal.addEventListener('abort', () => {
      say(`   lease-c: close signal aborted (${(signal.reason as Error)?.message}), cleaning up`);
      resolve();
    });
  }),
));
await sleep(200);
say('   disposing the manager while lease-c closes');
await manager.dispose();
say(`done: closes per lease ${JSON.stringify(Object.fromEntries(closes))}, live expirations ${manager.size()}`);
