/**
 * `npm run mutate`: breaks one transition or rule at a time and checks that the
 * test suite fails for each. A mutation that survives is a gap in the tests.
 * It edits src/ in place and restores it: leave the tree alone while it runs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

interface Mutation {
  name: string;
  file: string;
  from: string;
  to: string;
}

const mutations: Mutation[] = [
  {
    "name": "M1 deadline guard >= becomes >",
    "file": "src/machines/expiration.ts",
    "from": "context.clock.now() >= context.deadline",
    "to": "context.clock.now() > context.deadline"
  },
  {
    "name": "M2 resume with a fresh TTL (delay from the full deadline)",
    "file": "src/machines/expiration.ts",
    "from": "Math.max(0, context.deadline - context.clock.now())",
    "to": "Math.max(0, context.deadline)"
  },
  {
    "name": "M3 expire deletes instead of closing (R2)",
    "file": "src/machines/expiration.ts",
    "from": "        expire: {\n          target: 'expired',",
    "to": "        expire: {\n          target: 'deleted',"
  },
  {
    "name": "M4 delete while queued still closes",
    "file": "src/machines/expiration.ts",
    "from": "            delete: {\n              target: '#expiration.deleted',\n              description: 'Deleted before",
    "to": "            delete: {\n              target: 'closing',\n              description: 'Deleted before"
  },
  {
    "name": "M5 expired accepts start and re-arms (R4)",
    "file": "src/machines/expiration.ts",
    "from": "      initial: 'queued',",
    "to": "      initial: 'queued',\n      on: { start: 'active' },"
  },
  {
    "name": "M6 close signal not aborted when the close settles",
    "file": "src/machines/expiration.ts",
    "from": "          scope.abort(SETTLED);",
    "to": ""
  },
  {
    "name": "M7 renew keeps the old generation (a queued stale close still runs)",
    "file": "src/machines/expiration.ts",
    "from": "generation: context.generation + 1",
    "to": "generation: context.generation"
  },
  {
    "name": "M7b new on a live id creates a second actor instead of renewing",
    "file": "src/manager/manager-logic.ts",
    "from": "        if (live) {",
    "to": "        if (false as boolean) {"
  },
  {
    "name": "M8 protocol.close does not resume after a failed close",
    "file": "src/manager/protocol.ts",
    "from": "        await close();\n      } catch (error) {\n        this.manager.start(id);",
    "to": "        await close();\n      } catch (error) {"
  },
  {
    "name": "M9 protocol.update arms without the id executor",
    "file": "src/manager/protocol.ts",
    "from": "renewal.close, { executor: this.executor(next) });",
    "to": "renewal.close);"
  },
  {
    "name": "M10 stop does not pause",
    "file": "src/machines/expiration.ts",
    "from": "        stop: {\n          target: 'paused',",
    "to": "        stop: {\n          target: 'active',"
  },
  {
    "name": "M11 the executor task does not wait for the close",
    "file": "src/machines/expiration.ts",
    "from": "    return settled;\n",
    "to": "    return undefined;\n"
  },
  {
    "name": "M12 closing does not leave the manager first",
    "file": "src/manager/manager-logic.ts",
    "from": "          expirations.delete(event.id);\n          context.closing",
    "to": "          context.closing"
  },
  {
    "name": "M13 paused renew keeps the old deadline",
    "file": "src/machines/expiration.ts",
    "from": "return { deadline, close, executor, generation",
    "to": "return { close, executor, generation"
  },
  {
    "name": "M14 dispose while closing does not abort the close",
    "file": "src/machines/expiration.ts",
    "from": "    abortClose: ({ self }) => closeScopes.get(self)?.abort(DISPOSED),",
    "to": "    abortClose: () => {},"
  },
  {
    "name": "M15 the manager never forgets a settled close",
    "file": "src/manager/manager-logic.ts",
    "from": "        context.closing.delete(ended.ref);\n",
    "to": ""
  }
];

// `npm run mutate -- M3 M7` runs only the mutations whose names start so.
const only = process.argv.slice(2);
const chosen = mutations.filter(({ name }) => only.length === 0 || only.some((prefix) => name.startsWith(prefix)));

let survived = 0;
for (const { name, file, from, to } of chosen) {
  const original = readFileSync(file, 'utf8');
  if (!original.includes(from)) throw new Error(`${name}: the code it mutates has changed (${file})`);
  writeFileSync(file, original.replace(from, to));
  try {
    execFileSync('npx', ['vitest', 'run', '--reporter=dot'], { stdio: 'pipe', env: { ...process.env, FC_RUNS: '300' } });
    survived++;
    console.log(`SURVIVED  ${name}`);
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: Buffer | string; stderr?: Buffer | string };
    const output = `${stdout}${stderr}`;
    const failing = output.split('\n').filter((line) => line.includes('FAIL'));
    const files = [...new Set(failing.flatMap((line) => line.match(/test\/[\w./-]+\.test\.ts/g) ?? []))];
    console.log(`caught    ${name}  (${files.join(', ')})`);
  } finally {
    writeFileSync(file, original);
  }
}
console.log(`${chosen.length - survived}/${chosen.length} mutations caught`);
process.exit(survived ? 1 : 0);
