/**
 * Real PostgreSQL servers for tests: a throwaway cluster per call, on a free
 * port of 127.0.0.1, with trust auth for the `postgres` user. Crash tests use
 * `kill()` (SIGKILL) and `restart()` on the same data directory.
 *
 * Needs the server binaries (`initdb`, `postgres`, `pg_isready`): on Debian,
 * `apt-get install -y postgresql-15` or `bash scripts/ensure-postgres.sh`.
 * As root the server runs as the `postgres` user through `setpriv`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * `fsync` of the server (default `true`). `false` is faster and still keeps
   * every commit across `kill()`, which loses no data the kernel already has;
   * only an OS crash would. `false` also trims the server (see {@link THROWAWAY}). With `true`, on Linux and PostgreSQL 14+, crash
   * recovery syncs with `recovery_init_sync_method=syncfs` (a restart after
   * `kill()` in about a second, not several on a busy machine).
   */
  fsync?: boolean;
  /**
   * Data directory to use: created and initialized when missing or empty,
   * reused when it already holds a cluster, and never removed. Its parent
   * folders must be searchable by the `postgres` user when running as root.
   * Default: a new folder under `os.tmpdir()`, removed by `stop()`.
   */
  dataDir?: string;
  /** More server settings, passed as `-c name=value`. */
  settings?: Record<string, string | number | boolean>;
  /**
   * How long to wait for the server to accept connections (default 120 s): the
   * wait ends once it does (well under a second idle); only a hang reaches it.
   */
  startTimeoutMs?: number;
}

/** A running PostgreSQL server started by {@link startPostgres}. */
export interface PostgresServer {
  /** `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth, no password). */
  readonly connectionString: string;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** PID of the postmaster. */
  readonly pid: number;
  /** The cluster's data directory. */
  readonly dataDir: string;
  /**
   * Fast shutdown (SIGINT to the PID), waiting for the exit; then removes the
   * data directory if this harness created it, unless `keepDataDir`.
   * Idempotent, and also the cleanup after `kill()`.
   */
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
  /**
   * Crash: SIGKILL to the PID and to its children (the backends) at once, so
   * clients see a broken connection, not a shutdown message; waits until they
   * are gone. Keeps the data directory for `restart()`.
   */
  kill(): Promise<void>;
  /**
   * Starts a new server on the same data directory (stopping this one first if
   * it still runs), on the same port when it is free, and hands the data
   * directory's cleanup over to it. A crashed cluster recovers from its WAL.
   */
  restart(): Promise<PostgresServer>;
  /** The server's recent stdout and stderr (its log), for failure messages. */
  log(): string;
}

const HOST = '127.0.0.1';
const INSTALL_HINT =
  'Install them with `apt-get install -y postgresql-15` (Debian) or `bash scripts/ensure-postgres.sh`, ' +
  'or set POSTGRES_BIN to the folder holding initdb and postgres.';
const LOG_LIMIT = 64 * 1024;

/**
 * The folder with PostgreSQL's server binaries (`initdb`, `postgres`,
 * `pg_isready`, `psql`): `$POSTGRES_BIN` when set, else Debian's
 * `/usr/lib/postgresql/15/bin`, else the newest other `/usr/lib/postgresql/N/bin`,
 * else the folder of `postgres` on `PATH`. `undefined` when none has them.
 */
export function findPostgresBin(): string | undefined {
  const complete = (dir: string) => ['initdb', 'postgres', 'pg_isready'].every((name) => existsSync(join(dir, name)));
  const fromEnv = process.env['POSTGRES_BIN'];
  if (fromEnv) return complete(fromEnv) ? resolve(fromEnv) : undefined;
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian)
    ? readdirSync(debian)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => (a === '15' ? -1 : b === '15' ? 1 : Number(b) - Number(a)))
    : [];
  const candidates = [
    ...versions.map((version) => join(debian, version, 'bin')),
    ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean),
  ];
  return candidates.find(complete);
}

/**
 * Starts a PostgreSQL server on a free port of 127.0.0.1 and resolves once it
 * accepts connections (its `postmaster.pid` says so, and `pg_isready` agrees). Initializes the data
 * directory with `initdb -U postgres --auth=trust --locale=C --encoding=UTF8`
 * unless it already holds a cluster. Throws, saying how to install them, when
 * the binaries are missing; throws with the server's log when it fails to start.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(`PostgreSQL server binaries (initdb, postgres, pg_isready) not found. ${INSTALL_HINT}`);
  const owner = serverUser();
  const ownsDir = options.dataDir === undefined;
  const dataDir = ownsDir ? mkdtempSync(join(tmpdir(), 'xstate-expire-pg-')) : resolve(options.dataDir!);
  try {
    mkdirSync(dataDir, { recursive: true });
    if (owner) checkSearchable(dirname(dataDir), owner);
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      chmodSync(dataDir, 0o700);
      if (owner) chownSync(dataDir, owner.uid, owner.gid);
      await initCluster(bin, dataDir, owner);
    }
    return await launch({ bin, owner, dataDir, ownsDir, options, port: undefined });
  } catch (error) {
    if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Fills the empty `dataDir` with a new cluster: a copy of a template cluster made
 * once per machine, user and server version by `initdb`, since `initdb` costs a
 * second of CPU and a test suite starts a dozen servers. Where `cp -a` is missing
 * it runs `initdb` itself.
 */
async function initCluster(bin: string, dataDir: string, owner: Owner | undefined): Promise<void> {
  const template = await clusterTemplate(bin, owner);
  try {
    execFileSync('cp', ['-a', `${template}/.`, dataDir], { stdio: 'ignore' });
  } catch {
    await run(bin, 'initdb', initdbArgs(dataDir), dataDir, owner);
  }
}

const initdbArgs = (dataDir: string) => ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--locale=C', '--encoding=UTF8', '--no-sync'];

let templateMade: Promise<string> | undefined;

/**
 * Makes the template cluster that every {@link startPostgres} copies, unless it
 * exists: test/global-setup.ts calls it once before the test files start, so
 * that files starting servers at once never each run `initdb`. Resolves with
 * its folder, or `undefined` when the server binaries are missing.
 */
export async function postgresTemplate(): Promise<string | undefined> {
  const bin = findPostgresBin();
  return bin ? clusterTemplate(bin, serverUser()) : undefined;
}

/**
 * The template cluster in `os.tmpdir()`: made in a folder of its own and renamed
 * into place, so test processes racing to make it never see half of one.
 */
function clusterTemplate(bin: string, owner: Owner | undefined): Promise<string> {
  return (templateMade ??= (async () => {
    // Keyed by the server's version and folder: a template never outlives its binaries' upgrade.
    const version = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8', env: cleanEnv() });
    const key = createHash('sha256').update(`${bin}\n${version}\n${process.getuid?.() ?? ''}`).digest('hex').slice(0, 12);
    const template = join(tmpdir(), `xstate-expire-pg-template-${key}`);
    if (existsSync(join(template, 'PG_VERSION'))) return template;
    const making = mkdtempSync(`${template}.making-`);
    try {
      chmodSync(making, 0o700);
      if (owner) chownSync(making, owner.uid, owner.gid);
      await run(bin, 'initdb', initdbArgs(making), making, owner);
      try {
        renameSync(making, template);
      } catch {
        // Another process made it first.
      }
    } finally {
      rmSync(making, { recursive: true, force: true });
    }
    return template;
  })());
}

/** The user that runs the server and owns its data dir. */
interface Owner {
  uid: number;
  gid: number;
}

/** The `postgres` user when we are root (the server refuses root), else ourselves (`undefined`). */
function serverUser(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('Running as root, but there is no `postgres` user to run the server as. ' + INSTALL_HINT);
  }
}

/** As root: the `postgres` user must be able to enter every folder above the data dir. */
function checkSearchable(dir: string, owner: Owner): void {
  for (let at = dir; ; at = dirname(at)) {
    const { mode, uid, gid } = statSync(at);
    const searchable = uid === owner.uid ? mode & 0o100 : gid === owner.gid ? mode & 0o010 : mode & 0o001;
    if (!searchable) throw new Error(`The postgres user cannot enter ${at} (mode ${(mode & 0o777).toString(8)}); chmod it o+x or use another dataDir.`);
    if (at === dirname(at)) return;
  }
}

/** The command line for `name` from `bin`, through `setpriv` when running as root. */
function command(bin: string, name: string, args: string[], owner: Owner | undefined): [string, string[]] {
  const file = join(bin, name);
  return owner
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', file, ...args]]
    : [file, args];
}

/** Our environment without libpq's PG* variables, which could redirect the tools. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
}

/** Runs a tool to its end; rejects with its output when it fails. */
function run(bin: string, name: string, args: string[], cwd: string, owner: Owner | undefined): Promise<void> {
  const [file, argv] = command(bin, name, args, owner);
  return new Promise((done, fail) => {
    const child = spawn(file, argv, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? done() : fail(new Error(`${name} exited with ${code}:\n${output.trim()}`)),
    );
  });
}

/** Exit code of a quiet tool run (`pg_isready`). */
function status(bin: string, name: string, args: string[]): Promise<number> {
  return new Promise((done) => {
    const child = spawn(join(bin, name), args, { cwd: tmpdir(), env: cleanEnv(), stdio: 'ignore' });
    child.on('error', () => done(-1));
    child.on('close', (code) => done(code ?? -1));
  });
}

/** A free TCP port on 127.0.0.1 (free now; whoever binds it next may still lose a race for it). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.on('error', () => done(false));
    server.listen(port, HOST, () => server.close(() => done(true)));
  });
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Resolves when the child has exited; holds the event loop open meanwhile. */
function exitOf(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  child.ref();
  return new Promise((done) => child.once('exit', () => done()));
}

/** Sends a signal unless the process is already gone. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** `/proc/PID/stat` fields after "(comm)": state, ppid, ...; undefined when gone. */
function procStat(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Live (not zombie) child processes of `pid`; empty where there is no /proc. */
function childrenOf(pid: number): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      const [state, ppid] = procStat(entry) ?? [];
      return Number(ppid) === pid && state !== 'Z';
    })
    .map(Number);
}

/**
 * Crashes the server at once: freezes the postmaster (SIGSTOP, so it neither
 * forks nor reacts), SIGKILLs its children, then SIGKILLs the PID. Killing the
 * PID alone lets the backends notice and send clients a shutdown error first;
 * they run in sessions of their own, so a process-group kill misses them.
 * Returns the children to wait for.
 */
function crash(pid: number): number[] {
  signal(pid, 'SIGSTOP');
  const children = childrenOf(pid);
  for (const child of children) signal(child, 'SIGKILL');
  signal(pid, 'SIGKILL');
  return children;
}

/** Waits until these processes are gone or zombies (they no longer hold shared memory). */
async function reaped(pids: number[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const alive = (pid: number) => {
    const state = procStat(pid)?.[0];
    return state !== undefined && state !== 'Z';
  };
  while (pids.some(alive) && Date.now() < until) await sleep(10);
}

/** Servers still running, and temp data dirs still owned: killed and removed if the process exits first. */
const live = new Set<{ child: ChildProcess; dataDir: string; ownsDir: () => boolean }>();
let exitHook = false;
function track(entry: { child: ChildProcess; dataDir: string; ownsDir: () => boolean }): () => void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const { child, dataDir, ownsDir } of live) {
        if (child.pid && !exited(child)) crash(child.pid);
        if (ownsDir()) rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
      }
    });
  }
  live.add(entry);
  return () => live.delete(entry);
}

interface Launch {
  bin: string;
  owner: Owner | undefined;
  dataDir: string;
  ownsDir: boolean;
  options: StartPostgresOptions;
  /** Port to try first (restart); a fresh one when it is taken. */
  port: number | undefined;
}

/**
 * The settings of a server started with `fsync: false`, a throwaway one: what
 * only recovery from an OS crash or a replica needs goes (a minimal WAL
 * without full pages), and so do autovacuum and most of the 128MB of shared
 * buffers, for databases of a few hundred rows living a minute. Measured on
 * the durable model paths: 13% less CPU (25–27 s against 29–31 s). A `kill()`
 * still loses nothing (the kernel keeps what was written).
 */
const THROWAWAY = { wal_level: 'minimal', max_wal_senders: 0, full_page_writes: 'off', autovacuum: 'off', shared_buffers: '16MB' };

/** Starts the postmaster, retrying on a lost port race or a not yet released old cluster. */
async function launch(spec: Launch): Promise<PostgresServer> {
  const { bin, owner, dataDir, options } = spec;
  const timeout = options.startTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeout;
  let port = spec.port !== undefined && (await portIsFree(spec.port)) ? spec.port : await freePort();
  // The socket path must fit in sun_path (108 bytes); else TCP only.
  const socketDir = join(dataDir, '.s.PGSQL.65535').length < 100 ? dataDir : '';
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: HOST,
    unix_socket_directories: socketDir,
    fsync: options.fsync === false ? 'off' : 'on',
    // After a crash, recovery first fsyncs every file of the data dir one by one: seconds
    // on a busy machine, longer than a crash test's leases. syncfs (PostgreSQL 14+, Linux)
    // flushes the file system in one call, as safely.
    ...(options.fsync !== false && process.platform === 'linux' && majorVersion(dataDir) >= 14
      ? { recovery_init_sync_method: 'syncfs' }
      : {}),
    // Its dynamic shared memory in files of the data dir (pg_dynshmem), not /dev/shm: a server a
    // test kills leaves no segment behind there (652 of them, 335 MB of memory, had piled up).
    dynamic_shared_memory_type: 'mmap',
    ...(options.fsync === false ? THROWAWAY : {}),
    ...options.settings,
  };
  const settingArgs = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);

  for (let attempt = 1; ; attempt++) {
    const [file, argv] = command(bin, 'postgres', ['-D', dataDir, '-p', String(port), ...settingArgs], owner);
    const child = spawn(file, argv, { cwd: dataDir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const append = (chunk: Buffer) => {
      log += chunk;
      if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let spawnError: Error | undefined;
    child.on('error', (error) => (spawnError = error));
    // A forgotten server must not keep the process alive; the exit hook kills it.
    child.unref();
    (child.stdout as unknown as { unref(): void }).unref();
    (child.stderr as unknown as { unref(): void }).unref();

    let ownsDir = spec.ownsDir;
    const entry = { child, dataDir, ownsDir: () => ownsDir };
    const untrack = track(entry);

    const ready = await waitReady(bin, child, port, deadline, () => spawnError, dataDir);
    if (ready === 'ready') {
      const pid = child.pid!;
      const server: PostgresServer = {
        connectionString: `postgresql://postgres@${HOST}:${port}/postgres`,
        port,
        pid,
        dataDir,
        log: () => log,
        async stop({ keepDataDir = false } = {}) {
          if (!exited(child)) {
            const done = exitOf(child);
            signal(pid, 'SIGINT');
            const timer = setTimeout(() => exited(child) || crash(pid), 15_000);
            await done;
            clearTimeout(timer);
          }
          if (ownsDir && !keepDataDir) {
            rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
            ownsDir = false;
          }
          if (!ownsDir) untrack();
        },
        async kill() {
          // Once exited, the PID may belong to another process: leave it alone.
          if (exited(child)) return;
          const done = exitOf(child);
          const children = crash(pid);
          await done;
          // Backends must be gone (and detached from shared memory) before a restart.
          await reaped(children, 5_000);
        },
        async restart() {
          if (!existsSync(join(dataDir, 'PG_VERSION'))) {
            throw new Error(`Cannot restart: ${dataDir} was removed by stop(); use stop({ keepDataDir: true }).`);
          }
          await server.stop({ keepDataDir: true });
          const owns = ownsDir;
          // The new server takes over the cleanup of the data dir.
          ownsDir = false;
          untrack();
          try {
            return await launch({ ...spec, ownsDir: owns, port });
          } catch (error) {
            // Keep the data dir for inspection; this server's stop() still removes it.
            ownsDir = owns;
            track(entry);
            throw error;
          }
        },
      };
      return server;
    }

    // Failed: make sure it is gone, then decide whether another try can help.
    if (child.pid && !exited(child)) {
      const done = exitOf(child);
      crash(child.pid);
      await done;
    }
    untrack();
    const portLost = /could not bind|could not create any TCP\/IP sockets|Address already in use/i.test(log);
    const stillInUse = /pre-existing shared memory block|lock file .* already exists/i.test(log);
    if (ready === 'exited' && (portLost || stillInUse) && attempt < 5 && Date.now() < deadline) {
      if (portLost) port = await freePort();
      else await sleep(200);
      continue;
    }
    const why = spawnError
      ? `could not be spawned: ${spawnError.message}`
      : ready === 'timeout'
        ? `did not accept connections within ${timeout} ms`
        : `exited with ${child.exitCode ?? child.signalCode}`;
    throw new Error(`PostgreSQL (${join(bin, 'postgres')} -D ${dataDir} -p ${port}) ${why}. Log:\n${log.trim()}`);
  }
}

/** The major version of the cluster in `dataDir` (its `PG_VERSION`), 0 when unknown. */
function majorVersion(dataDir: string): number {
  try {
    return Number.parseInt(readFileSync(join(dataDir, 'PG_VERSION'), 'utf8'), 10) || 0;
  } catch {
    return 0;
  }
}

/**
 * The server's own word on its state, as `pg_ctl -w` reads it: the status line
 * of `postmaster.pid` (`starting`, then `ready` once it accepts connections),
 * when the file is this server's; `undefined` before it is written.
 */
function pidFileStatus(dataDir: string, pid: number | undefined): string | undefined {
  try {
    const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    return Number(lines[0]) === pid ? lines[7]?.trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the server accepts connections, exits, or the deadline passes:
 * polls `postmaster.pid` (a file read), then confirms with `pg_isready`. A
 * `pg_isready` process every 25 ms cost a second of CPU per start on a loaded
 * machine, where a start (or a crash recovery) takes seconds.
 */
async function waitReady(
  bin: string,
  child: ChildProcess,
  port: number,
  deadline: number,
  spawnError: () => Error | undefined,
  dataDir: string,
): Promise<'ready' | 'exited' | 'timeout'> {
  const args = ['-q', '-h', HOST, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '2'];
  for (;;) {
    if (spawnError() || exited(child)) return 'exited';
    // pg_isready: 0 accepting; 1 starting up or recovering; 2 no answer yet. Needs no special user.
    if (pidFileStatus(dataDir, child.pid) === 'ready' && (await status(bin, 'pg_isready', args)) === 0) {
      return exited(child) ? 'exited' : 'ready';
    }
    if (Date.now() > deadline) return 'timeout';
    await sleep(10);
  }
}

/** Path of a tool (e.g. `psql`) next to the server binaries; throws when missing. */
export function postgresTool(name: string): string {
  const bin = findPostgresBin();
  const file = bin && join(bin, name);
  if (!file || !existsSync(file)) throw new Error(`PostgreSQL tool ${name} not found. ${INSTALL_HINT}`);
  return file;
}
