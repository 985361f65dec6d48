/**
 * The chaos run's verdict: the promises of `xstate-expire/durable` checked over
 * what the ledger and the audit recorded (ledger.ts). Each finding carries the
 * rows that prove it.
 *
 * Times compared across the two servers are one machine's clock. The margins
 * below are the library's own: a lease is renewed every third of the shorter
 * timeout (`hb`), so a holder that stops answering at `s` may lose its lease
 * from `s + timeout - hb` on; `SLACK_MS` is for the few ms between recording an
 * action and the signal landing.
 *
 * A process starved of CPU (a loaded machine) runs no timer, its heartbeat's
 * included, as surely as a SIGSTOPped one: each worker records when its event
 * loop was late (lag.ts), and a run of consecutive late ticks is judged as a
 * stall whose length is the time the loop ran nothing in it.
 */
import { LAG_TICK_MS } from './lag.js';
import type { AuditRow, InvocationRow, LagRow, Records } from './ledger.js';

const SLACK_MS = 100;

/** One broken promise, with its evidence. */
export interface Finding {
  id: string;
  generation: number;
  what: string;
  evidence: unknown;
}

/** What the verdict found, by invariant; every list must be empty. */
export interface Verdict {
  /** Acknowledged renewals the database lost; generations that ended with no close, delete or renewal; rows left after quiescence. */
  lostGenerations: Finding[];
  /** A second effect for one (id, generation) that would change the first (another nonce or deadline). */
  doubleEffects: Finding[];
  /** A closer invoked for a generation that was deleted or renewed, or that its invoker never claimed. */
  closesOfDeletedOrRenewed: Finding[];
  /** A paused generation closed, resumed or dropped while the process holding the pause lived and answered. */
  closesWhilePaused: Finding[];
  /** A second invocation for one (id, generation) not explained by a crash or long stall of one of its claimants. */
  unexplainedDuplicates: Finding[];
  /** What was seen and explained: for the report, not a failure. */
  counts: Record<string, number>;
}

interface Interval {
  from: number;
  to: number;
}

/** A lease, for the renewals the database committed of it. */
interface Lease {
  id: string;
  generation: number;
  state: 'paused' | 'expired.closing';
}

/** Judges a run's records. */
export function judge(records: Records, { claimTimeoutMs, pauseTimeoutMs }: { claimTimeoutMs: number; pauseTimeoutMs: number }): Verdict {
  const hb = Math.min(claimTimeoutMs, pauseTimeoutMs) / 3;
  const { actions, ops, invocations, attempts, audit, leftover } = records;
  const counts: Record<string, number> = {};
  const bump = (what: string, by = 1) => void (counts[what] = (counts[what] ?? 0) + by);

  // The chaos, per pid.
  const kills = new Map<number, number[]>();
  const stalls = new Map<number, Interval[]>();
  const disposals = new Map<number, number[]>();
  const outages: Interval[] = [];
  const openStalls = new Map<number, number>();
  let serverDown: number | undefined;
  for (const action of actions) {
    const pid = action.pid ?? -1;
    if (action.kind === 'kill') kills.set(pid, [...(kills.get(pid) ?? []), action.at]);
    if (action.kind === 'dispose') disposals.set(pid, [...(disposals.get(pid) ?? []), action.at]);
    if (action.kind === 'stop') openStalls.set(pid, action.at);
    if (action.kind === 'cont' && openStalls.has(pid)) {
      stalls.set(pid, [...(stalls.get(pid) ?? []), { from: openStalls.get(pid)!, to: action.at }]);
      openStalls.delete(pid);
    }
    if (action.kind === 'server-kill') serverDown = action.at;
    if (action.kind === 'server-up' && serverDown !== undefined) {
      outages.push({ from: serverDown, to: action.at });
      serverDown = undefined;
    }
  }
  for (const [pid, from] of openStalls) stalls.set(pid, [...(stalls.get(pid) ?? []), { from, to: Infinity }]);
  if (serverDown !== undefined) outages.push({ from: serverDown, to: Infinity });
  // Starvation, per pid: runs of consecutive late ticks (a tick's lag starts one tick after the last tick ran).
  const starved = new Map<number, Array<Interval & { lags: LagRow[] }>>();
  for (const lag of [...records.lags].sort((a, b) => a.from_at - b.from_at)) {
    const runs = starved.get(lag.pid) ?? [];
    const last = runs.at(-1);
    if (last && lag.from_at - last.to <= LAG_TICK_MS) {
      last.to = Math.max(last.to, lag.to_at);
      last.lags.push(lag);
    } else runs.push({ from: lag.from_at, to: lag.to_at, lags: [lag] });
    starved.set(lag.pid, runs);
  }

  /** The database's renewals of a lease (`state`: expired.closing for a claim, paused for a pause) by pid, in commit order. */
  const renewalsOf = (pid: number, lease: Lease) =>
    records.renewals.filter((r) => r.by === `chaos_${pid}` && r.id === lease.id && r.generation === lease.generation && r.state === lease.state);

  /** Why a holder (pid) may have lost a lease of `timeoutMs` (`lease`, when known) it held from `from` by `at`, if it may. */
  const lapse = (pid: number, from: number, at: number, timeoutMs: number, lease?: Lease): string | undefined => {
    const need = timeoutMs - hb - SLACK_MS;
    for (const k of kills.get(pid) ?? []) {
      if (k >= from - timeoutMs && k <= at && at - k >= need) return `killed ${Math.round(at - k)} ms before`;
      // Killed with a renewal in flight (sent, not committed: a loaded server takes a while), the lease
      // ran from the last renewal the database committed, or from the claim or pause itself (its
      // transaction's now, at most its audit time): lost once that ran out, not before.
      if (!lease || k < from - timeoutMs || k > at) continue;
      const renewed = renewalsOf(pid, lease).filter((r) => r.at <= k).at(-1);
      const taken = (histories.get(key(lease.id, lease.generation))?.rows ?? [])
        .filter((row) => row.by === `chaos_${pid}` && row.new_state === lease.state && row.at <= k)
        .at(-1);
      const fromRenewal = renewed !== undefined && (taken === undefined || renewed.at >= taken.at);
      const end = fromRenewal ? (renewed!.lease_until ?? renewed!.due) : taken ? taken.at + timeoutMs : null;
      if (end !== null && k <= end && at >= end - SLACK_MS) {
        return `killed ${Math.round(at - k)} ms before, its ${fromRenewal ? 'last committed renewal' : lease.state === 'paused' ? 'pause' : 'claim'} out ${Math.round(at - end)} ms before`;
      }
    }
    for (const { from: s, to: c } of stalls.get(pid) ?? []) {
      if (s <= at && c >= from - timeoutMs && Math.min(c, at) - s >= need) return `stalled ${Math.round(Math.min(c, at) - s)} ms`;
    }
    for (const run of starved.get(pid) ?? []) {
      if (run.from > at || run.to < from - timeoutMs) continue;
      // Only the time the loop ran nothing counts, up to the loss: not the moments it ran between late ticks.
      const idle = run.lags.reduce((sum, lag) => sum + Math.max(0, Math.min(lag.to_at, at) - lag.from_at), 0);
      if (idle >= need) return `starved ${Math.round(idle)} ms of ${Math.round(Math.min(run.to, at) - run.from)} ms`;
    }
    for (const { from: s, to: u } of outages) {
      if (s <= at && u >= from - timeoutMs) return `server down ${Math.round(u - s)} ms`;
    }
    return undefined;
  };

  // The history of each generation, from the audit.
  interface History {
    id: string;
    generation: number;
    rows: AuditRow[];
    fate?: 'renewed' | 'deleted' | 'settled';
    endedAt?: number;
    endedFrom?: string | null;
    claims: AuditRow[];
  }
  const histories = new Map<string, History>();
  const key = (id: string, generation: number) => `${id}#${generation}`;
  const historyOf = (id: string, generation: number) => {
    let history = histories.get(key(id, generation));
    if (!history) histories.set(key(id, generation), (history = { id, generation, rows: [], claims: [] }));
    return history;
  };
  const nonces = new Set<string>();
  for (const row of audit) {
    if (row.nonce) nonces.add(row.nonce);
    if (row.op === 'I') historyOf(row.id, row.new_generation!).rows.push(row);
    else if (row.op === 'D') {
      const history = historyOf(row.id, row.old_generation!);
      history.rows.push(row);
      history.fate = row.old_state === 'expired.closing' ? 'settled' : 'deleted';
      history.endedAt = row.at;
      history.endedFrom = row.old_state;
    } else {
      const history = historyOf(row.id, row.old_generation!);
      history.rows.push(row);
      if (row.new_generation !== row.old_generation) {
        history.fate = 'renewed';
        history.endedAt = row.at;
        history.endedFrom = row.old_state;
        historyOf(row.id, row.new_generation!).rows.push(row);
      } else if (row.new_state === 'expired.closing') history.claims.push(row);
    }
  }
  bump('generations', histories.size);
  for (const history of histories.values()) bump(`generations ${history.fate ?? 'left'}`);

  const effects = new Map<string, (typeof attempts)[number]>();
  for (const attempt of attempts) if (attempt.applied) effects.set(key(attempt.id, attempt.generation), attempt);

  // 1. Lost generations.
  const lostGenerations: Finding[] = [];
  for (const op of ops) {
    if (op.kind === 'update' && op.result === 'ok' && op.nonce && !nonces.has(op.nonce)) {
      lostGenerations.push({ id: op.id, generation: Number.NaN, what: 'an acknowledged renewal is not in the database', evidence: op });
    }
  }
  for (const history of histories.values()) {
    const { id, generation } = history;
    if (history.fate === 'settled' && !effects.has(key(id, generation))) {
      lostGenerations.push({ id, generation, what: 'settled without an applied effect', evidence: { audit: history.rows, invocations: invocations.filter((i) => i.id === id && i.generation === generation) } });
    }
    if (history.fate === 'deleted') {
      // A delete is a call's: protocol.close or delete, running on this id then.
      const by = ops.find(
        (op) => op.id === id && (op.kind === 'delete' || op.kind === 'close') && op.begin_at <= history.endedAt! && (op.end_at ?? Infinity) >= history.endedAt!,
      );
      if (!by) lostGenerations.push({ id, generation, what: `deleted from ${history.endedFrom} with no delete or close call running`, evidence: { audit: history.rows } });
    }
  }
  for (const row of leftover) {
    lostGenerations.push({ id: row.id as string, generation: Number(row.generation), what: 'still in the table after quiescence', evidence: row });
  }

  // 2. Double effects: a second application that would change what the first did.
  const doubleEffects: Finding[] = [];
  for (const attempt of attempts) {
    const applied = effects.get(key(attempt.id, attempt.generation));
    if (!applied || attempt === applied) continue;
    bump('effect attempts already applied');
    const differs =
      applied.nonce !== attempt.nonce || (applied.deadline !== null && attempt.deadline !== null && applied.deadline !== attempt.deadline);
    if (differs) {
      doubleEffects.push({ id: attempt.id, generation: attempt.generation, what: 'a second effect with another nonce or deadline', evidence: { applied, attempt } });
    }
    if (applied.kind !== attempt.kind) bump('effects by both the closer and protocol.close');
  }

  // 3. Closes of deleted or renewed generations, or without a claim of the invoker.
  const closesOfDeletedOrRenewed: Finding[] = [];
  for (const invocation of invocations) {
    bump('invocations');
    if (invocation.aborted_at_entry) bump('invocations whose signal was aborted at entry');
    if (invocation.disposing_at_entry) bump(`invocations started while their process disposed its manager (signal ${invocation.aborted_at_entry ? '' : 'not '}aborted)`);
    if (invocation.finished === null) bump('invocations never finished (killed)');
    if (invocation.generation === 0) {
      // A renewal the manager could not arm, closed once by the protocol (R2): it must not be in the database.
      bump('unarmed renewals closed');
      if (invocation.nonce !== null && nonces.has(invocation.nonce)) {
        closesOfDeletedOrRenewed.push({ id: invocation.id, generation: 0, what: 'closed as unarmed a renewal the database holds', evidence: { invocation, audit: audit.filter((row) => row.nonce === invocation.nonce) } });
      }
      continue;
    }
    const history = histories.get(key(invocation.id, invocation.generation));
    if (history?.fate === 'renewed' || history?.fate === 'deleted') {
      closesOfDeletedOrRenewed.push({ id: invocation.id, generation: invocation.generation, what: `closed a ${history.fate} generation`, evidence: { invocation, audit: history.rows } });
      continue;
    }
    const claimed = history?.claims.some((claim) => claim.new_owner === invocation.owner && claim.at <= invocation.started);
    if (!claimed) {
      closesOfDeletedOrRenewed.push({ id: invocation.id, generation: invocation.generation, what: 'closed without a claim by its owner', evidence: { invocation, audit: history?.rows ?? [] } });
    }
  }

  // Issue 15, item 1: closes a manager starts once its dispose() began, and closes still running when it resolved.
  for (const disposal of ops.filter((op) => op.kind === 'dispose')) {
    for (const invocation of invocations) {
      if (invocation.owner !== disposal.owner || invocation.started < disposal.begin_at) continue;
      bump(`closes started after their manager's dispose() began (signal ${invocation.aborted_at_entry ? '' : 'not '}aborted)`);
      if (disposal.end_at !== null && (invocation.finished ?? Infinity) > disposal.end_at) bump("closes running on after their manager's dispose() resolved");
    }
  }

  // 4. Closes (and resumes) while a live process holds the pause.
  const closesWhilePaused: Finding[] = [];
  for (const op of ops) {
    if (op.held_at !== null && op.held_state !== null && op.held_state !== 'paused') bump(`calls whose entity was ${op.held_state} inside them`);
    if (op.held_at !== null && op.held_state === 'active' && !lapse(op.pid, op.begin_at, op.held_at, pauseTimeoutMs)) {
      // stop() ran before the callback: a live entity must be paused in it, unless the holder stalled.
      closesWhilePaused.push({ id: op.id, generation: op.held_generation!, what: `active, not paused, inside its own ${op.kind} (pid ${op.pid})`, evidence: { op, audit: histories.get(key(op.id, op.held_generation!))?.rows ?? [] } });
    }
    if (op.held_at === null || op.held_state !== 'paused' || op.held_generation === null) continue;
    bump(`pauses held (${op.kind})`);
    const history = histories.get(key(op.id, op.held_generation));
    const end = op.release_at ?? Infinity;
    for (const row of history?.rows ?? []) {
      if (row.at <= op.held_at || row.at >= end) continue;
      const same = row.op === 'U' && row.old_generation === row.new_generation;
      if (same && row.old_state === 'paused' && row.new_state === 'paused') continue;
      // The change out of the pause; what follows it is its consequence.
      if (row.old_generation !== op.held_generation || row.old_state !== 'paused') continue;
      const what = row.op === 'D' ? 'deleted' : !same ? 'renewed' : row.new_state!.startsWith('expired') ? `expired (${row.new_state})` : `resumed (${row.new_state})`;
      // Another holder of the same pause ended it by its own call (its update renewed, its
      // close deleted, its failure expired or resumed it): the protocol at work, as two
      // processes updating one id may (the README says so), not the pause running out.
      const byHolder = ops.some(
        (other) =>
          other !== op &&
          `chaos_${other.pid}` === row.by &&
          other.id === op.id &&
          other.held_generation === op.held_generation &&
          other.held_state === 'paused' &&
          other.held_at !== null &&
          other.held_at <= row.at,
      );
      if (byHolder) {
        bump('pauses ended by the call of another holder');
        continue;
      }
      const excuse = lapse(op.pid, op.held_at, row.at, pauseTimeoutMs, { id: op.id, generation: op.held_generation, state: 'paused' });
      if (excuse) {
        bump(`pauses lost, explained (${excuse.split(' ')[0]})`);
        continue;
      }
      closesWhilePaused.push({
        id: op.id,
        generation: op.held_generation,
        what: `${what} by ${row.by} ${Math.round(row.at - op.held_at)} ms into a pause held by pid ${op.pid} (until ${Math.round(end - op.held_at)} ms)`,
        evidence: {
          op,
          row,
          chaosOfHolder: actions.filter((a) => a.pid === op.pid || a.kind.startsWith('server')),
          // When the holder was starved, and its heartbeats that renewed this pause, around the loss.
          lagsOfHolder: records.lags.filter((l) => l.pid === op.pid && l.to_at >= op.begin_at - pauseTimeoutMs && l.from_at <= row.at),
          beatsOfHolder: records.beats
            .filter((b) => b.pid === op.pid && b.sent_at >= op.begin_at - pauseTimeoutMs && b.sent_at <= row.at + pauseTimeoutMs)
            .map((b) => ({ ...b, keys: b.keys.includes(key(op.id, op.held_generation!)) ? 'this' : b.keys.length })),
          renewals: renewalsOf(op.pid, { id: op.id, generation: op.held_generation, state: 'paused' }),
        },
      });
    }
  }

  // 5. Duplicates: each later invocation of one (id, generation) explained by the claimant's crash or stall.
  const unexplainedDuplicates: Finding[] = [];
  const byKey = new Map<string, InvocationRow[]>();
  for (const invocation of invocations) if (invocation.generation !== 0) byKey.set(key(invocation.id, invocation.generation), [...(byKey.get(key(invocation.id, invocation.generation)) ?? []), invocation]);
  for (const list of byKey.values()) {
    for (let j = 1; j < list.length; j++) {
      bump('duplicate invocations');
      const later = list[j]!;
      // The claimant that lost its claim may be either: a process stalled between its claim's
      // commit and its closer's start runs the closer on resume, after the takeover's.
      let excuse: string | undefined;
      for (const other of list) {
        if (other === later) continue;
        // Either the other lost its claim to this one, or this one (stalled before its closer started) to the other.
        const claim: Lease = { id: later.id, generation: later.generation, state: 'expired.closing' };
        excuse = lapse(other.pid, other.started, later.started, claimTimeoutMs, claim) ?? lapse(later.pid, other.started, other.started, claimTimeoutMs, claim);
        if (excuse) break;
      }
      if (excuse) {
        bump(`duplicates explained (${excuse.split(' ')[0]})`);
        // Issue 15, item 5: a close whose claim was taken over learns it (its signal aborts) once its process runs again.
        for (const earlier of list.slice(0, j)) {
          if (earlier.finished === null || earlier.aborted_at_end) continue;
          // Running since the takeover, or since its process resumed after it: two heartbeats to learn it.
          const conts = (stalls.get(earlier.pid) ?? []).map((stall) => stall.to).filter((to) => to <= earlier.finished!);
          const since = Math.max(later.started, ...conts);
          if (earlier.finished - since > 2 * hb) bump('closes taken over that ran on (two heartbeats) with their signal not aborted');
        }
        continue;
      }
      const pids = new Set(list.map((i) => i.pid));
      unexplainedDuplicates.push({
        id: later.id,
        generation: later.generation,
        what: `invocation ${j + 1} with no crash or long stall of another claimant`,
        evidence: {
          invocations: list,
          audit: histories.get(key(later.id, later.generation))?.rows ?? [],
          renewals: records.renewals.filter((r) => r.id === later.id && r.generation === later.generation),
          chaos: actions.filter((a) => (a.pid !== null && pids.has(a.pid)) || a.kind.startsWith('server')),
          // Each claimant's starvation around the takeover: its runs of late ticks, and the time its loop ran nothing in each.
          starved: [...pids].flatMap((pid) =>
            (starved.get(pid) ?? [])
              .filter((run) => run.to >= list[0]!.started - claimTimeoutMs && run.from <= later.started)
              .map((run) => ({ pid, from: run.from, to: run.to, idle: Math.round(run.lags.reduce((sum, lag) => sum + lag.to_at - lag.from_at, 0)) })),
          ),
          disposedBefore: list.slice(0, j).some((i) => (disposals.get(i.pid) ?? []).some((d) => d >= i.started - claimTimeoutMs && d <= later.started)),
        },
      });
    }
  }

  return { lostGenerations, doubleEffects, closesOfDeletedOrRenewed, closesWhilePaused, unexplainedDuplicates, counts };
}

/** The names of the invariants, in the order of the issue. */
export const INVARIANTS = ['lostGenerations', 'doubleEffects', 'closesOfDeletedOrRenewed', 'closesWhilePaused', 'unexplainedDuplicates'] as const;

/** A short text of what a verdict found: counts, then each finding (its evidence cut at `limit` chars). */
export function describeVerdict(verdict: Verdict, limit = 3_000): string {
  const lines = INVARIANTS.map((name) => `${name}: ${verdict[name].length}`);
  lines.push(`seen: ${JSON.stringify(verdict.counts)}`);
  for (const name of INVARIANTS) {
    for (const finding of verdict[name].slice(0, 5)) {
      lines.push(`- ${name} ${finding.id}#${finding.generation}: ${finding.what}\n  ${JSON.stringify(finding.evidence).slice(0, limit)}`);
    }
    if (verdict[name].length > 5) lines.push(`- ${name}: ${verdict[name].length - 5} more`);
  }
  return lines.join('\n');
}
