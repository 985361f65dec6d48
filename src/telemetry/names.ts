/** The instrumentation scope: what meters and tracers are named after. */
export const SCOPE = 'xstate-expire';

/** The instruments' and the span's names, as operators query them. */
export const NAMES = {
  /**
   * Observable gauge: live entities, by `state` (`active`, `paused`, `expired`; `failed` will
   * join them once failed closes exist) and `namespace` (durable).
   */
  entities: 'xstate_expire.entities',
  /** Counter: closes finished, by `outcome` (and `closer`, durable). */
  closes: 'xstate_expire.closes',
  /** Histogram [ms]: close start − deadline (by `closer`, durable). */
  lateness: 'xstate_expire.close.lateness',
  /** Histogram [ms]: how long closes ran, by `outcome`. */
  duration: 'xstate_expire.close.duration',
  /** Counter (durable): closes taken over from another process whose claim ran out. */
  reclaims: 'xstate_expire.reclaims',
  /** The span a close runs in. */
  closeSpan: 'xstate_expire.close',
} as const;

/**
 * How a close finished:
 * - `ok`: it resolved (durable: and its completion was recorded);
 * - `error`: it threw or rejected;
 * - `timeout` (durable): it outlived its claim, which another manager took over;
 * - `aborted`: its signal was aborted (the manager was disposed) before it settled.
 */
export type CloseOutcome = 'ok' | 'error' | 'timeout' | 'aborted';
