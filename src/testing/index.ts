/**
 * `xstate-expire/testing`: the expiration statechart as a test model. Generate
 * paths from the same machine that runs in production, and run them against
 * your own integration through an adapter.
 *
 * @packageDocumentation
 */
export {
  BACKOFF_EVENT,
  CLOSE_SETTLED_EVENT,
  CLOSE_TIMEOUT_EVENT,
  DEADLINE_EVENT,
  DEFAULT_MODEL_CLOSE_TIMEOUT_MS,
  DEFAULT_MODEL_ID,
  DEFAULT_MODEL_PAUSE_TIMEOUT_MS,
  DEFAULT_MODEL_RETRY,
  DEFAULT_MODEL_TTL_MS,
  PAUSE_TIMEOUT_EVENT,
  expirationModel,
  generateModelPaths,
  modelCoverage,
  durableOnlyModelEvents,
  modelEventNames,
  modelState,
  modelStates,
  modelTransitions,
  timeModelEvents,
  walkModel,
} from './model.js';
export type {
  Expectation,
  ModelCoverage,
  ModelEventName,
  ModelInput,
  ModelPath,
  ModelPathOptions,
  ModelState,
  ModelStep,
  ModelTransition,
} from './model.js';
export { ModelMismatchError, runModelPath, runModelPaths } from './run.js';
export type { ModelAdapter, Observation } from './run.js';
