import type { Reporter, TestModule } from 'vitest/node';
import type { ModelCoverage, ModelPath } from '../../src/testing/index.js';

/** The figures of the model suite, attached to a test's meta by the suite. */
export interface ModelSummary {
  states: number;
  transitions: number;
  allTransitions: number;
  paths: number;
  traced: number;
  requirements: number;
}

declare module 'vitest' {
  interface TaskMeta {
    modelSummary?: ModelSummary;
  }
}

/** The figures of a model run: what `paths` cover of the statechart. */
export const summarize = (
  paths: readonly ModelPath[],
  coverage: ModelCoverage,
  requirements: number,
): ModelSummary => ({
  states: coverage.states.covered.length,
  transitions: coverage.transitions.covered.length,
  allTransitions: coverage.transitions.covered.length + coverage.transitions.missing.length,
  paths: paths.length,
  traced: requirements - coverage.requirements.missing.length,
  requirements,
});

/** The one line `npm run test:model` ends with. */
export const formatSummary = (s: ModelSummary): string =>
  `model: ${s.states} states, ${s.transitions}/${s.allTransitions} transitions covered, ${s.paths} paths, ${s.traced}/${s.requirements} requirements traced`;

/** Prints the model summary after vitest's own, when every model test passed. */
export default class ModelSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const tests = modules.flatMap((m) => [...m.children.allTests()]);
    const summary = tests.map((t) => t.meta().modelSummary).find(Boolean);
    if (summary && tests.every((t) => t.result().state === 'passed')) console.log(formatSummary(summary));
  }
}
