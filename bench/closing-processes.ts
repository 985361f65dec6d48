/**
 * The closing processes of bench/durable.ts: each a durable manager in a
 * process of its own (bench/durable-closer.ts), forked and stopped from here.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Forks one closing process (bench/durable-closer.ts) on `namespace` of the server at `connectionString`; resolves once its manager runs. */
export function closer(connectionString: string, namespace: string, onBatch: (batch: Array<[number, number]>) => void): Promise<ChildProcess> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = fork(fileURLToPath(new URL('./durable-closer.ts', import.meta.url)), [connectionString, namespace], {
    cwd: ROOT,
    env,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message === 'ready') resolve(child);
      else onBatch(message as Array<[number, number]>);
    });
    child.once('exit', (code) => reject(new Error(`closing process exited (${code}) before it was ready`)));
  });
}

/** Asks a closing process to stop; SIGKILLs it (by its PID) if it has not exited within 30 s. */
export async function stopCloser(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}
