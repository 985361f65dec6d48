/**
 * One closing process for bench/durable.ts (which forks it): a durable manager
 * with its defaults on `postgresStore({ connectionString })`, in a namespace,
 * whose closer records when each close ran. Sends `ready` once started, then
 * batches of `[index, closed at (epoch ms)]` every 50 ms; disposes and exits
 * on `stop`.
 *
 * Usage: `node --import tsx bench/durable-closer.ts <connectionString> <namespace>`.
 */
import { createDurableExpireManager, postgresStore } from '../src/durable/index.js';

const [connectionString, namespace] = process.argv.slice(2);
if (!connectionString || !namespace || !process.send) throw new Error('fork me with <connectionString> <namespace>');
const send = process.send.bind(process);
let batch: Array<[number, number]> = [];
const store = postgresStore({ connectionString });
const manager = await createDurableExpireManager({
  store,
  namespace,
  closers: { bench: ({ data }) => void batch.push([data as number, Date.now()]) },
});
const flush = () => {
  if (batch.length === 0) return;
  send(batch);
  batch = [];
};
const flushing = setInterval(flush, 50);
process.on('message', (message) => {
  if (message !== 'stop') return;
  void (async () => {
    clearInterval(flushing);
    await manager.dispose();
    flush();
    process.disconnect();
  })();
});
send('ready');
