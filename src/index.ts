/**
 * xstate-expire: "expire on timeout unless it is being updated", as XState v5 actors.
 *
 * @packageDocumentation
 */
export { createExpireManager, ExpireManager } from './manager/expire-manager.js';
export type { DisposeOptions, ExpireManagerOptions, NewExpirationOptions } from './manager/expire-manager.js';
export type { EntityOptions, ExpirationEntry } from './manager/engine.js';
export type { Deadline } from './shared/validate.js';
export { SerialExecutor } from './shared/serial-executor.js';
export { createExpireProtocol, ExpireProtocol } from './manager/protocol.js';
export type { Renewal } from './manager/protocol.js';
export { realClock } from './shared/clock.js';
export { compileMachine, UnsupportedMachineError } from './machines/compile.js';
export type { TableLeaf, TableOp, TableTransition, TransitionTable, TableGuard, TableDelay, TableAssignment } from './machines/compile.js';
export { ACTOR_STOPPED, CLOSE_SETTLED, CLOSE_TIMED_OUT, MANAGER_DISPOSED } from './machines/effects.js';
export { inspectSanitizers, sanitizeContext, sanitizeEvent } from './inspect.js';
export type { InspectSanitizers } from './inspect.js';
export { expirationMachine, MAX_TIMER_DELAY, ROUTED_CALLS } from './machines/expiration.js';
export type {
  CloseEvent,
  ExpirationActorRef,
  ExpirationContext,
  ExpirationEvent,
  ExpirationInput,
  ExpirationMachine,
  ExpirationNotice,
  ExpirationOutput,
  ExpirationSnapshot,
  ExpirationState,
  FailedEvent,
  LiveExpirationState,
  RefusedEvent,
  RenewEvent,
  RetryPolicy,
  RoutedCall,
} from './machines/expiration.js';
export { requirements } from './machines/requirements.js';
export type { Requirement, TransitionMeta } from './machines/requirements.js';
export { managerLogic } from './manager/manager-logic.js';
export type {
  ManagerActorRef,
  ManagerContext,
  ManagerEvent,
  ManagerInput,
  ManagerLogic,
  ManagerSnapshot,
  RoutedEvent,
} from './manager/manager-logic.js';
export type { CloseErrorHandler, CloseFn, ExpireClock, Executor, ManagerStatus } from './types.js';
export { NAMES as TELEMETRY_NAMES } from './telemetry/names.js';
export type { CloseOutcome } from './telemetry/names.js';
export type { TelemetryOptions } from './telemetry/telemetry.js';
