import type { Reporter, TestModule } from 'vitest/node';

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
