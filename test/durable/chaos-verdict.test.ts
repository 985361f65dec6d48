/**
 * The chaos test's verdict (chaos/verdict.ts) on records written by hand: a clean
 * history passes, and each broken promise is found — so that a chaos run that
 * passes is evidence, not a check that cannot fail.
 */
import { describe, expect, it } from 'vitest';
import type { ActionRow, AttemptRow, AuditRow, InvocationRow, LagRow, OpRow, Records, RenewalRow } from './chaos/ledger.js';
import { judge } from './chaos/verdict.js';

const TIMEOUTS = { claimTimeoutMs: 1_500, pauseTimeoutMs: 1_500 };
const A = { pid: 1, owner: 'a' };
const B = { pid: 2, owner: 'b' };
const G = 1_000;

let seq = 0;
const audit = (row: Partial<AuditRow> & Pick<AuditRow, 'at' | 'op'>): AuditRow => ({
  seq: ++seq,
  by: 'chaos_1',
  id: 'x',
  old_generation: null,
  new_generation: null,
  old_state: null,
  new_state: null,
  new_live: null,
  new_owner: null,
  new_lease_event: null,
  deadline: 50,
  nonce: 'n1',
  ...row,
});
const inserted = (at = 0) => audit({ at, op: 'I', new_generation: G, new_state: 'active', new_live: true });
const change = (at: number, from: string, to: string, owner: string | null = null) =>
  audit({ at, op: 'U', old_generation: G, new_generation: G, old_state: from, new_state: to, new_live: !to.startsWith('expired.closing'), new_owner: owner });
const deleted = (at: number, from: string) => audit({ at, op: 'D', old_generation: G, old_state: from });
const invocation = (who: { pid: number; owner: string }, started: number, row: Partial<InvocationRow> = {}): InvocationRow => ({
  id: 'x',
  generation: G,
  nonce: 'n1',
  deadline: 50,
  pid: who.pid,
  owner: who.owner,
  started,
  aborted_at_entry: false,
  disposing_at_entry: false,
  finished: started + 10,
  aborted_at_end: false,
  ...row,
});
const attempt = (at: number, applied: boolean, row: Partial<AttemptRow> = {}): AttemptRow => ({
  id: 'x',
  generation: G,
  kind: 'closer',
  nonce: 'n1',
  deadline: 50,
  pid: 1,
  at,
  applied,
  ...row,
});
const op = (row: Partial<OpRow> & Pick<OpRow, 'kind' | 'begin_at'>): OpRow => ({
  seq: ++seq,
  ...A,
  id: 'x',
  nonce: null,
  held_at: null,
  held_generation: null,
  held_state: null,
  release_at: null,
  end_at: null,
  result: 'ok',
  ...row,
});
const action = (at: number, kind: string, pid: number | null): ActionRow => ({ seq: ++seq, at, kind, pid, detail: null });
/** A claim's renewal by pid 1 (A) as the database committed it. */
const renewal = (at: number, lease_until: number): RenewalRow => ({ at, by: 'chaos_1', id: 'x', generation: G, state: 'expired.closing', lease_until, due: null });
/** Consecutive late ticks of `pid`: each lag starts one tick (50 ms) after the previous late tick ran. */
const lagging = (pid: number, ...spans: Array<[from: number, to: number]>): LagRow[] => spans.map(([from_at, to_at]) => ({ pid, from_at, to_at }));

/** A clean life: created by an update, paused by a second one that fails and resumes, expired, claimed by A, closed once, settled. */
function clean(): Records {
  return {
    workers: [
      { ...A, slot: 0, opened: 0 },
      { ...B, slot: 1, opened: 0 },
    ],
    actions: [],
    ops: [
      op({ kind: 'update', begin_at: -10, nonce: 'n1', end_at: 1 }),
      op({ kind: 'update', begin_at: 10, held_at: 12, held_generation: G, held_state: 'paused', release_at: 30, end_at: 35, result: 'injected' }),
    ],
    invocations: [invocation(A, 60)],
    attempts: [attempt(65, true)],
    audit: [inserted(0), change(11, 'active', 'paused', 'a'), change(32, 'paused', 'active'), change(55, 'active', 'expired.closing', 'a'), deleted(80, 'expired.closing')],
    lags: [],
    beats: [],
    renewals: [],
    leftover: [],
  };
}

const found = (records: Records) => {
  const verdict = judge(records, TIMEOUTS);
  return {
    lostGenerations: verdict.lostGenerations.map((f) => f.what),
    doubleEffects: verdict.doubleEffects.map((f) => f.what),
    closesOfDeletedOrRenewed: verdict.closesOfDeletedOrRenewed.map((f) => f.what),
    closesWhilePaused: verdict.closesWhilePaused.map((f) => f.what.replace(/ \d+ ms.*/, '')),
    unexplainedDuplicates: verdict.unexplainedDuplicates.map((f) => f.what),
  };
};
const none = { lostGenerations: [], doubleEffects: [], closesOfDeletedOrRenewed: [], closesWhilePaused: [], unexplainedDuplicates: [] };

describe('the chaos verdict', () => {
  it('finds nothing in a clean history', () => {
    expect(found(clean())).toEqual(none);
  });

  it('finds lost generations: an acknowledged renewal not in the database, a settle without effect, a delete nobody called, a row left', () => {
    const records = clean();
    records.ops.push(op({ kind: 'update', begin_at: 100, nonce: 'gone', end_at: 110 }));
    records.attempts = [];
    records.audit.push(audit({ at: 200, op: 'I', id: 'y', new_generation: 7, new_state: 'active', nonce: 'n2' }));
    records.audit.push(audit({ at: 300, op: 'D', id: 'y', old_generation: 7, old_state: 'active', nonce: 'n2' }));
    records.leftover.push({ id: 'z', generation: 9, state: 'paused' });
    expect(found(records).lostGenerations).toEqual([
      'an acknowledged renewal is not in the database',
      'settled without an applied effect',
      'deleted from active with no delete or close call running',
      'still in the table after quiescence',
    ]);
    // A delete during a delete call is no loss.
    records.ops.push(op({ kind: 'delete', id: 'y', begin_at: 290, end_at: 310 }));
    expect(found(records).lostGenerations).not.toContain('deleted from active with no delete or close call running');
  });

  it('finds a double effect: a second application for one (id, generation) that would change the first', () => {
    const records = clean();
    records.attempts.push(attempt(90, false)); // the same again: idempotent, no change
    expect(found(records)).toEqual(none);
    records.attempts.push(attempt(95, false, { nonce: 'another' }));
    expect(found(records).doubleEffects).toEqual(['a second effect with another nonce or deadline']);
  });

  it('finds closes of renewed or deleted generations, and closes without a claim of their invoker', () => {
    const renewed = clean();
    renewed.audit.splice(3, 2, audit({ at: 55, op: 'U', old_generation: G, new_generation: G + 1, old_state: 'active', new_state: 'active' }));
    expect(found(renewed).closesOfDeletedOrRenewed).toEqual(['closed a renewed generation']);
    const unclaimed = clean();
    unclaimed.invocations.push(invocation(B, 70));
    expect(found(unclaimed).closesOfDeletedOrRenewed).toEqual(['closed without a claim by its owner']);
    const early = clean();
    early.invocations = [invocation(A, 50)]; // before its claim was written
    expect(found(early).closesOfDeletedOrRenewed).toEqual(['closed without a claim by its owner']);
  });

  it('finds a paused generation expired or resumed while its holder lived, unless the holder stalled or died long enough before', () => {
    const records = clean();
    // The update holds the pause from 12 to 3000; the entity resumes at 1400 and closes at 1500.
    records.ops[1] = { ...records.ops[1]!, release_at: 3_000, end_at: 3_010 };
    records.audit.splice(2, 3, change(1_400, 'paused', 'active'), change(1_500, 'active', 'expired.closing', 'a'), deleted(1_600, 'expired.closing'));
    records.invocations = [invocation(A, 1_510)];
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // A stall of the holder too short to lose a lease (1500 - 500 - 100 ms) explains nothing…
    records.actions = [action(500, 'stop', 1), action(1_300, 'cont', 1)];
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // …a long one does.
    records.actions = [action(300, 'stop', 1), action(1_450, 'cont', 1)];
    expect(found(records).closesWhilePaused).toEqual([]);
    // So does the holder's death a pause timeout (less a heartbeat) before.
    records.actions = [action(200, 'kill', 1)];
    expect(found(records).closesWhilePaused).toEqual([]);
    // Another process that joined the same pause (its own stop) ends it by its own call: the protocol, not a lapse.
    const joined = clean();
    joined.ops[1] = { ...joined.ops[1]!, release_at: 3_000, end_at: 3_010 };
    joined.ops.push(op({ kind: 'update', pid: 2, begin_at: 100, held_at: 110, held_generation: G, held_state: 'paused', release_at: 1_400, end_at: 1_410 }));
    joined.audit.splice(2, 3, { ...change(1_400, 'paused', 'active'), by: 'chaos_2' }, change(1_500, 'active', 'expired.closing', 'a'), deleted(1_600, 'expired.closing'));
    joined.invocations = [invocation(A, 1_510)];
    expect(found(joined).closesWhilePaused).toEqual([]);
    // A process that never held it (a pass of a third one) does not.
    joined.audit[2] = { ...joined.audit[2]!, by: 'chaos_3' };
    expect(found(joined).closesWhilePaused).toEqual(['resumed (active) by chaos_3']);
    // A live entity that is active inside its own update was never paused.
    const unpaused = clean();
    unpaused.ops[1] = { ...unpaused.ops[1]!, held_state: 'active' };
    expect(found(unpaused).closesWhilePaused).toEqual(['active, not paused, inside its own update (pid 1)']);
  });

  it('excuses a pause lost while its holder was starved long enough (its loop late tick after tick), and nothing less', () => {
    // The update holds the pause from 12 to 3000; the holder's own pass resumes it at 1400 (its timeout ran out).
    const starved = () => {
      const records = clean();
      records.ops[1] = { ...records.ops[1]!, release_at: 3_000, end_at: 3_010 };
      records.audit.splice(2, 3, change(1_400, 'paused', 'active'), change(1_500, 'active', 'expired.closing', 'a'), deleted(1_600, 'expired.closing'));
      records.invocations = [invocation(A, 1_510)];
      return records;
    };
    const records = starved();
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // Late tick after tick from 200 to 1400: the loop ran nothing for 1050 ms of it (≥ 1500 - 500 - 100), as if stopped.
    records.lags = lagging(1, [200, 500], [550, 800], [850, 1_100], [1_150, 1_400]);
    expect(found(records).closesWhilePaused).toEqual([]);
    expect(judge(records, TIMEOUTS).counts['pauses lost, explained (starved)']).toBe(1);
    // Ticks that run between lags are counted out: 4 × 200 ms of 1150 ms idle explains nothing.
    records.lags = lagging(1, [200, 400], [450, 650], [700, 900], [950, 1_150]);
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // Two lags with an on-time tick between them (a gap over one tick) are two starvations, each too short…
    records.lags = lagging(1, [200, 700], [800, 1_300]);
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // …and so is a lag that mostly comes after the loss, or another process's.
    records.lags = lagging(1, [1_000, 3_000]);
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    records.lags = lagging(2, [200, 1_400]);
    expect(found(records).closesWhilePaused).toEqual(['resumed (active) by chaos_1']);
    // A long lag of the holder alone is enough.
    records.lags = lagging(1, [300, 1_300]);
    expect(found(records).closesWhilePaused).toEqual([]);
    // A finding shows the holder's lags around the loss, for the next reader.
    records.lags = lagging(1, [900, 1_000]);
    const [finding] = judge(records, TIMEOUTS).closesWhilePaused;
    expect((finding!.evidence as { lagsOfHolder: LagRow[] }).lagsOfHolder).toEqual(records.lags);
  });

  it('excuses a duplicate close after its first claimant was starved past its claim, and nothing less', () => {
    const records = clean();
    records.audit.splice(4, 0, change(1_700, 'expired.closing', 'expired.closing', 'b'));
    records.invocations.push(invocation(B, 1_710));
    // A, the first claimant, was late tick after tick from 100 to 1650: 1300 ms of it idle.
    records.lags = lagging(1, [100, 500], [550, 900], [950, 1_300], [1_350, 1_500], [1_550, 1_650]);
    expect(found(records).unexplainedDuplicates).toEqual([]);
    expect(judge(records, TIMEOUTS).counts['duplicates explained (starved)']).toBe(1);
    // B's starvation says nothing about A's claim.
    records.lags = lagging(2, [100, 1_650]);
    expect(found(records).unexplainedDuplicates).toEqual(['invocation 2 with no crash or long stall of another claimant']);
    // Nor does A's for 800 ms.
    records.lags = lagging(1, [100, 900]);
    expect(found(records).unexplainedDuplicates).toEqual(['invocation 2 with no crash or long stall of another claimant']);
  });

  it('finds a duplicate close not preceded by a crash or long stall of the claimant', () => {
    const records = clean();
    records.audit.splice(4, 0, change(1_700, 'expired.closing', 'expired.closing', 'b'));
    records.invocations.push(invocation(B, 1_710));
    expect(found(records).unexplainedDuplicates).toEqual(['invocation 2 with no crash or long stall of another claimant']);
    // A plain dispose of the claimant is no crash.
    records.actions = [action(61, 'dispose', 1)];
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
    // Killed at 61: a takeover from 61 + 1500 - 500 - 100 ms on is explained; one sooner is not.
    records.actions = [action(61, 'kill', 1)];
    expect(found(records).unexplainedDuplicates).toEqual([]);
    records.invocations[1] = invocation(B, 700);
    records.audit[4] = change(690, 'expired.closing', 'expired.closing', 'b');
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
    // The server's crash during the first close explains it.
    records.actions = [action(62, 'server-kill', null), action(400, 'server-up', null)];
    expect(found(records).unexplainedDuplicates).toEqual([]);
  });

  it('explains a duplicate by the death of a claimant once its last committed renewal ran out, even with a renewal in flight at its death', () => {
    // A claims at 55; killed at 1200 (a renewal in flight, never committed), it loses the claim to B at
    // 1950: 750 ms after the kill, too soon for a pause timeout less a heartbeat, but after the claim ran out.
    const records = clean();
    records.audit.splice(4, 0, change(1_950, 'expired.closing', 'expired.closing', 'b'));
    records.invocations = [invocation(A, 60, { finished: null, aborted_at_end: null }), invocation(B, 1_960)];
    records.actions = [action(1_200, 'kill', 1)];
    expect(found(records).unexplainedDuplicates).toEqual([]);
    // A renewal A committed at 400 (until 1900) runs out before the takeover: explained.
    records.renewals = [renewal(400, 1_900)];
    expect(found(records).unexplainedDuplicates).toEqual([]);
    // One until 2100 does not: the takeover came while the database still held A's claim.
    records.renewals = [renewal(400, 2_100)];
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
    // A renewal committed after the kill is no one's; one of another lease (a pause) is not this claim's.
    records.renewals = [renewal(400, 2_100), renewal(1_300, 2_800)];
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
    records.renewals = [{ ...renewal(400, 2_100), state: 'paused', lease_until: null, due: 2_100 }];
    expect(found(records).unexplainedDuplicates).toEqual([]);
    // With no renewal, a takeover before the claim itself ran out (55 + 1500) is not explained.
    records.renewals = [];
    records.audit[4] = change(1_350, 'expired.closing', 'expired.closing', 'b');
    records.invocations[1] = invocation(B, 1_360);
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
  });

  it('explains a duplicate by the stall of the claimant that started its close last', () => {
    // A claims at 55 and stops at 56 before its closer starts; B takes over at 1700 and closes;
    // A, resumed at 1800, runs its closer then: the later invocation is the stalled claimant's.
    const records = clean();
    records.audit.splice(4, 0, change(1_700, 'expired.closing', 'expired.closing', 'b'));
    records.invocations = [invocation(B, 1_710), invocation(A, 1_810)];
    expect(found(records).unexplainedDuplicates).toHaveLength(1);
    records.actions = [action(56, 'stop', 1), action(1_800, 'cont', 1)];
    expect(found(records).unexplainedDuplicates).toEqual([]);
  });
});
