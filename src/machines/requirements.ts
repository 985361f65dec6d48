/**
 * What the expiration statechart realises: the Go package's four functional
 * requirements and the manager semantics of its API. Transitions name them in
 * their `meta.requirements`; the docs and the model-based tests trace them.
 */
export const requirements = {
  'R1.1': 'An update can take time: expiration is paused while it runs.',
  'R1.2': 'If the update fails, expiration resumes with the same deadline, not a fresh TTL.',
  R2: 'An error after a successful update closes the entity gracefully (force-expire).',
  R3: 'The close runs on a signal scoped to that close: aborted when it settles or the manager is disposed.',
  R4: 'Once closed or expired, the entity is never closed or expired again until it is updated.',
  'go:timeout': 'At its deadline on the clock, an active expiration queues its close (New, AfterFunc).',
  'go:delete': 'Delete removes an expiration without closing it.',
  'go:replace': 'New for an existing id replaces the expiration; the old one never closes.',
  'go:id-change': 'An update that returns a new id deletes the old expiration and creates one for the new id.',
  'go:dispose': "Disposing the manager (cancelling the Go manager's context) ends every expiration.",
  'dispose:close': 'dispose({ close: true }) closes every live expiration once (a paused one after its update), then disposes.',
  'durable:claim':
    'A durable close whose process died (its claim ran out) is taken over by another: at least once, fenced by generation and owner.',
  'executor:refused': 'An executor that refuses the close is reported, and the entity leaves the manager without closing.',
  'go:close-error': 'A close that throws or rejects is reported (onCloseError); without retries the entity is then gone.',
  'close:retry':
    'With retries on, a failed close is tried again after an exponential backoff with jitter; after the last attempt the entity is kept as failed until retried, renewed or deleted.',
  'pause:timeout':
    'A pause outliving pauseTimeoutMs (in a durable manager: every process running an update died) ends as a failed update does: the same deadline resumes.',
  'close:timeout': 'A close attempt longer than closeTimeoutMs sees its signal abort, releases its executor and counts as failed.',
} as const;

/** A requirement the statechart realises; see {@link requirements}. */
export type Requirement = keyof typeof requirements;

/** Transition metadata: which requirements the transition realises. */
export interface TransitionMeta {
  requirements: Requirement[];
}

/** Tags a transition with the requirements it realises. */
export const realises = (...tags: Requirement[]): TransitionMeta => ({ requirements: tags });
