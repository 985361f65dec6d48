/**
 * `npx tsx examples/sessions/main.ts`: the session server on the real clock,
 * with XState's default clock (no clock given anywhere): sessions of 300 ms.
 * Alice stays active and logs out; Bob goes idle and expires.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor } from 'xstate';
import { serverMachine } from './server.js';

const t0 = Date.now();
const say = (text: string) => console.log(`+${String(Date.now() - t0).padStart(4)}ms  ${text}`);

const server = createActor(serverMachine, {
  input: {
    ttlMs: 300,
    end: async (id) => say(`${id}: session ended in the backend (expired)`),
  },
}).start();
let told = 0;
server.subscribe(({ context }) => {
  for (const { id, how } of context.ended.slice(told)) {
    say(`${id}: ${how}; open sessions: ${Object.keys(context.sessions).join(', ') || 'none'}`);
  }
  told = context.ended.length;
});

server.send({ type: 'login', id: 'alice' });
server.send({ type: 'login', id: 'bob' });
say('alice and bob logged in (TTL 300 ms)');
for (let i = 0; i < 3; i++) {
  await sleep(200);
  server.send({ type: 'activity', id: 'alice' });
  say('alice is active: her session starts a fresh TTL');
}
server.send({ type: 'logout', id: 'alice' });
await sleep(50);
server.stop();
