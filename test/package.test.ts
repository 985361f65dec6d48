/**
 * The package as a consumer gets it: `npm pack` (prepack builds dist/), installed
 * into a scratch project with a different xstate 5.x than the one dist/ was built
 * against (the lowest supported, pinned in devDependencies). One pack and one
 * install serve every assertion.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * The consumer's xstate: the latest 5.x, newer than the dev pin (5.27.0) that dist/ is
 * built against. (On CI's second pass, which installs this version for development too,
 * both are the same.)
 */
const CONSUMER_XSTATE = '5.33.3';
/** Packing, installing and typechecking take seconds, not the suite's default 10. */
const TIMEOUT = 120_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws, so a failure shows its output in the assertion. */
function run(command: string, args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), maxBuffer: 64 * 1024 * 1024, shell: process.platform === 'win32' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error && code !== 0 ? String(error) : '') });
      },
    );
  });
}

/** The environment without what `npm test` sets for this package, so the consumer's npm sees only its own. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_lifecycle_|npm_package_|npm_config_local_prefix$|init_cwd$)/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}

const ok = (result: Result) => expect(result, `${result.stdout}\n${result.stderr}`).toMatchObject({ code: 0 });

/** Embeds the entity statechart in the consumer's own machine (invoked and spawned), on a SimulatedClock. */
const EMBED_TS = `
import { SimulatedClock, assign, createActor, setup } from 'xstate';
import {
  type ExpirationActorRef,
  type ExpirationInput,
  type ExpirationNotice,
  type ExpirationOutput,
  type LiveExpirationState,
  createExpireManager,
  expirationMachine,
} from 'xstate-expire';
import { type ModelState, modelState, walkModel } from 'xstate-expire/testing';

const clock = new SimulatedClock();
const closed: string[] = [];
const input = (id: string, ttlMs: number): ExpirationInput => ({
  id,
  deadline: clock.now() + ttlMs,
  close: (signal: AbortSignal) => {
    closed.push(signal.aborted ? id + ' (aborted)' : id);
  },
  clock,
  onCloseError: (failed: string, error: unknown) => console.error(failed, error),
});

const sessions = setup({
  types: {
    context: {} as { leases: ExpirationActorRef[]; closing: string[]; sessionClosed: boolean | undefined },
    events: {} as { type: 'lease'; id: string; ttlMs: number } | ExpirationNotice,
  },
  actors: { expiration: expirationMachine },
}).createMachine({
  id: 'sessions',
  context: { leases: [], closing: [], sessionClosed: undefined },
  invoke: {
    id: 'session',
    src: 'expiration',
    input: () => input('session', 1_000),
    onDone: { actions: assign({ sessionClosed: ({ event }) => (event.output as ExpirationOutput).closed }) },
  },
  on: {
    lease: {
      actions: assign({
        leases: ({ context, event, spawn }) => [
          ...context.leases,
          spawn('expiration', { id: event.id, input: input(event.id, event.ttlMs) }),
        ],
      }),
    },
    'expiration.closing': {
      actions: assign({ closing: ({ context, event }) => [...context.closing, event.id] }),
    },
  },
});

const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const actor = createActor(sessions, { clock }).start();
actor.send({ type: 'lease', id: 'lease-1', ttlMs: 500 });
const lease: ExpirationActorRef = actor.getSnapshot().context.leases[0]!;

clock.increment(500);
await settle();
const leaseState = String(lease.getSnapshot().value);
const sessionBefore = String(actor.getSnapshot().children.session?.getSnapshot().value);
clock.increment(500);
await settle();

const manager = createExpireManager({ clock });
manager.new('entity', clock.now() + 100, () => {
  closed.push('entity');
});
const entityBefore: LiveExpirationState | undefined = manager.state('entity');
clock.increment(100);
await settle();

const path = walkModel(['stop', 'start', 'deadline', 'runClose', 'settleClose']);
const modelLast: ModelState | undefined = path.steps.at(-1)?.expect.state;
const modelLease: ModelState = modelState(lease.getSnapshot());

console.log(
  JSON.stringify({
    lease: leaseState,
    sessionBefore,
    sessionClosed: actor.getSnapshot().context.sessionClosed,
    closing: actor.getSnapshot().context.closing,
    entity: { before: entityBefore, after: manager.state('entity') ?? null, has: manager.has('entity') },
    closed,
    model: { lease: modelLease, last: modelLast },
  }),
);
await manager.dispose();
actor.stop();
`;

/** A consumer on the old \`moduleResolution: "node"\` (node10): subpaths resolve through typesVersions. */
const NODE10_TS = `
import { type ExpirationSnapshot, expirationMachine } from 'xstate-expire';
import { type ModelPath, generateModelPaths, modelState } from 'xstate-expire/testing';

const paths: ModelPath[] = generateModelPaths();
export const summary = {
  machine: expirationMachine.id,
  paths: paths.length,
  state: (snapshot: ExpirationSnapshot) => modelState(snapshot),
};
`;

/** require() of the ESM package (Node >= 20.19), sharing the consumer's CommonJS xstate. */
const REQUIRE_CJS = `
const { SimulatedClock, createActor } = require('xstate');
const { expirationMachine } = require('xstate-expire');
const { walkModel } = require('xstate-expire/testing');
const clock = new SimulatedClock();
const input = { id: 'cjs', deadline: 10, close() {}, clock, onCloseError() {} };
const actor = createActor(expirationMachine, { clock, input }).start();
clock.increment(10);
setTimeout(() => console.log(JSON.stringify({ state: actor.getSnapshot().value, model: walkModel(['expire']).name })), 0);
`;

const compilerOptions = {
  target: 'ES2022',
  // No @types/node: the package's types need nothing of Node's, only the standard
  // disposables (TypeScript >= 5.2); DOM gives the consumer its console and timers.
  lib: ['ES2022', 'ESNext.Disposable', 'DOM'],
  types: [],
  strict: true,
  // Every .d.ts of the package and of xstate is checked; TypeScript's own libs are not.
  skipLibCheck: false,
  skipDefaultLibCheck: true,
};

describe('the packed package in a consumer project', { timeout: TIMEOUT }, () => {
  let dir: string;
  let consumer: string;
  let typecheck: Result;
  let installedXstate: Result;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xstate-expire-package-'));
    ok(await run('npm', ['pack', '--pack-destination', dir, '--no-audit', '--no-fund'], root));
    const tarball = (await readdir(dir)).find((file) => file.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    consumer = join(dir, 'consumer');
    await mkdir(consumer);
    const files: Record<string, unknown> = {
      'package.json': {
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: { 'xstate-expire': `file:${join(dir, tarball!)}`, xstate: CONSUMER_XSTATE },
      },
      'embed.ts': EMBED_TS,
      'node10.ts': NODE10_TS,
      'require.cjs': REQUIRE_CJS,
      'tsconfig.json': {
        compilerOptions: { ...compilerOptions, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', rootDir: '.' },
        files: ['embed.ts'],
      },
      'tsconfig.node10.json': {
        compilerOptions: { ...compilerOptions, module: 'commonjs', moduleResolution: 'node', noEmit: true },
        files: ['node10.ts'],
      },
    };
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(consumer, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    }
    ok(await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], consumer));

    // Both typechecks in one tsc (build mode shares the work); `npm ls` alongside, on the other core.
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    [typecheck, installedXstate] = await Promise.all([
      run(process.execPath, [tsc, '-b', 'tsconfig.json', 'tsconfig.node10.json'], consumer),
      run('npm', ['ls', 'xstate', '--all', '--parseable'], consumer),
    ]);
  }, TIMEOUT);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships LICENSE, NOTICE, dist and sources, and every relative README link resolves inside the package', async () => {
    const pkg = join(consumer, 'node_modules/xstate-expire');
    for (const file of ['LICENSE', 'NOTICE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.d.ts']) {
      expect(existsSync(join(pkg, file)), file).toBe(true);
    }
    const readme = await readFile(join(pkg, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => match[1]!.split('#')[0]!)
      .filter((target) => target !== '' && !/^[a-z]+:/i.test(target));
    expect(relative.length).toBeGreaterThan(0);
    expect(relative.filter((target) => !existsSync(join(pkg, target)))).toEqual([]);
  });

  it(`shares the consumer's single xstate (${CONSUMER_XSTATE}): a peer dependency, not a copy of its own`, async () => {
    ok(installedXstate);
    const copies = installedXstate.stdout.split(/\r?\n/).filter(Boolean);
    expect(copies).toEqual([join(consumer, 'node_modules/xstate')]);
    expect(existsSync(join(consumer, 'node_modules/xstate-expire/node_modules/xstate'))).toBe(false);
    const { version } = JSON.parse(await readFile(join(consumer, 'node_modules/xstate/package.json'), 'utf8'));
    expect(version).toBe(CONSUMER_XSTATE);
  });

  it('typechecks against the newer xstate (skipLibCheck off): embedding under NodeNext, xstate-expire/testing under node10', () => {
    ok(typecheck);
  });

  it('runs: the embedded actors and the manager expire on a SimulatedClock and close once', async () => {
    ok(typecheck);
    const result = await run(process.execPath, ['out/embed.js'], consumer);
    ok(result);
    expect(JSON.parse(result.stdout)).toEqual({
      lease: 'closed',
      sessionBefore: 'active',
      sessionClosed: true,
      closing: ['lease-1', 'session'],
      entity: { before: 'active', after: null, has: false },
      closed: ['lease-1', 'session', 'entity'],
      model: { lease: 'closed', last: 'closed' },
    });
  });

  it('installs the xstate-expire command: --help, and exit 3 for a store that is not there', async () => {
    const bin = join(consumer, 'node_modules/.bin/xstate-expire');
    const help = await run(bin, ['--help'], consumer);
    ok(help);
    expect(help.stdout).toMatch(/^Usage: xstate-expire <command>/);
    const missing = await run(bin, ['status', '--store', `pglite:${join(consumer, 'no-such-db')}`], consumer);
    expect(missing.code, missing.stderr).toBe(3);
    expect(missing.stderr).toMatch(/no PGlite data folder/);
  });

  it('loads with require() too (Node >= 20.19)', async () => {
    const result = await run(process.execPath, ['require.cjs'], consumer);
    ok(result);
    expect(JSON.parse(result.stdout)).toEqual({ state: 'closed', model: 'expire' });
  });
});
