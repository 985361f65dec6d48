/**
 * Why a durable close's signal aborted: this process stalled past
 * `claimTimeoutMs`, and another process took the close over. Its own
 * completion changes nothing (completions are fenced by owner): stop working.
 * Compare `signal.reason` with it.
 */
export const CLAIM_LOST: Error = Object.freeze(
  Object.assign(new Error('xstate-expire: the close was taken over by another process (its claim ran out)'), { name: 'ClaimLost' }),
);
