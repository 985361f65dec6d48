import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * A vitest sequencer that runs the files of `order` first, in that order, then
 * the rest as vitest would (by the durations it cached). Both configs use it:
 * the slow files first in `npm test`, the fast ones first in a mutation run.
 */
export function orderedSequencer(order: readonly string[]): typeof BaseSequencer {
  return class Ordered extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const rank = (spec: TestSpecification) => {
        const at = order.indexOf(relative(spec.project.config.root, spec.moduleId).replaceAll('\\', '/'));
        return at === -1 ? order.length : at;
      };
      return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
    }
  };
}
