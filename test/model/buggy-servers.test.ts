/**
 * The export's own test: the default paths of `generateModelPaths()` catch the
 * four bugs of issue 17 in a seed-shaped lease server, each with a
 * `ModelMismatchError` that names the path and the step, and the correct
 * server passes every one of them. Each bug is caught with the documented
 * observation (live, closes, state) and with live and closes alone, where only
 * time can tell.
 */
import { describe, expect, it } from 'vitest';
import { type ModelPath, ModelMismatchError, generateModelPaths, runModelPath, runModelPaths } from '../../src/testing/index.js';
import { ExpireServer } from '../support/expire-server.js';
import { ExtendsOnStop, FreshTtlOnFailure, NoPauseDuringUpdate, RestoresAfterFailure } from './buggy-servers.js';
import { type ServerClass, leaseServerAdapter } from './lease-server-adapter.js';

const paths = generateModelPaths();

/** The first path the server fails, with its error; `undefined` when it passes them all. */
async function firstFailure(Server: ServerClass, seen: 'full' | 'minimal', among: readonly ModelPath[] = paths) {
  const adapter = leaseServerAdapter(Server, seen);
  for (const path of among) {
    const error = await runModelPath(path, adapter).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error) return error;
  }
  return undefined;
}

const bugs: Array<[string, ServerClass]> = [
  ['(a) re-arms with a fresh TTL after a failed update', FreshTtlOnFailure],
  ['(b) does not pause during an update', NoPauseDuringUpdate],
  ['(c) extends the deadline on stop', ExtendsOnStop],
  ['(d) closes a second time after an update that changed nothing', RestoresAfterFailure],
];

describe(`the default paths (${paths.length}) against a seed-shaped lease server`, () => {
  it('the correct server passes every one', async () => {
    expect(await runModelPaths(paths, leaseServerAdapter(ExpireServer))).toBe(paths.length);
  }, 60_000);

  for (const [bug, Server] of bugs) {
    it(`catch a server that ${bug.slice(4)} ${bug.slice(0, 3)}`, async () => {
      for (const seen of ['full', 'minimal'] as const) {
        const error = await firstFailure(Server, seen);
        expect(error, seen).toBeInstanceOf(ModelMismatchError);
        const { path, stepIndex, message } = error as ModelMismatchError;
        const step = path.steps[stepIndex]!;
        expect(message.startsWith(`model path "${path.name}", step ${stepIndex + 1} (${step.event}): `), message).toBe(true);
      }
    }, 60_000);
  }

  it('time tells each bug: the saved deadline to the millisecond, the pause while time passes, the second close', async () => {
    const half = Math.floor(paths[0]!.ttlMs / 2);
    const named = (pattern: RegExp) => {
      const found = paths.filter((p) => pattern.test(p.name));
      expect(found, String(pattern)).not.toEqual([]);
      return found;
    };
    // (a): resumed, 1 ms before the saved deadline the lease is active; at it, expired. A fresh TTL keeps it active.
    // (A pause of half the TTL outlives the paths' pause timeout: these are the paths without one.)
    const exact = named(new RegExp(`^stop > tick\\(${half}\\) > start > tick\\(\\d+\\) > deadline \\(pauseTimeoutMs: none\\)$`));
    expect(await firstFailure(ExpireServer, 'full', exact)).toBeUndefined();
    expect(await firstFailure(FreshTtlOnFailure, 'full', exact)).toMatchObject({ stepIndex: 4, expected: 'expired', actual: 'active' });
    // (b): the deadline passes during the update (with no pause timeout): the lease must stay (live), its close must not run.
    const during = named(/^stop > deadline > runClose \(pauseTimeoutMs: none\)$/);
    expect(await firstFailure(NoPauseDuringUpdate, 'minimal', during)).toMatchObject({ stepIndex: 2, expected: true, actual: false });
    // (c): the deadline is that of `new`, not of the stop.
    const later = named(new RegExp(`^tick\\(${half}\\) > stop > start > deadline`));
    expect(await firstFailure(ExtendsOnStop, 'full', later)).toMatchObject({ stepIndex: 3, expected: 'expired', actual: 'active' });
    // (d): closed once, then an update fails: the lease stays gone. The server restores it: live again, its
    // second close queued (each close waits for the test's runClose).
    const twice = named(/^deadline > runClose > settleClose > stop > start$/);
    expect(await firstFailure(RestoresAfterFailure, 'minimal', twice)).toMatchObject({ stepIndex: 4, expected: false, actual: true });
  }, 60_000);
});
