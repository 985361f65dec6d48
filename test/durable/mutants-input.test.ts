/**
 * The durable module's checks at their edges, without a database: what each
 * accepts and refuses, and what its TypeError says. (Aimed at the mutants the
 * behaviour tests left alive: every boundary here is one a user can hit.)
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_ID_BYTES,
  MAX_NAMESPACE_BYTES,
  MAX_TIMEOUT_MS,
  SchemaVersionError,
  createDurableExpireManager,
  pgliteStore,
  postgresStore,
} from '../../src/durable/index.js';
import { refCounted } from '../../src/durable/store.js';
import { assertDurableId, assertJson, assertMs, assertNamespace, toDurableDeadline } from '../../src/durable/validate.js';

const ok = (f: () => unknown) => expect(f).not.toThrow();
const refused = (f: () => unknown, message: RegExp) => {
  expect(f).toThrow(TypeError);
  expect(f).toThrow(message);
};

describe('durable ids', () => {
  it('a non-empty string of well-formed text up to MAX_ID_BYTES bytes of UTF-8', () => {
    expect(MAX_ID_BYTES).toBe(1_024);
    ok(() => assertDurableId('t', 'x'.repeat(MAX_ID_BYTES)));
    ok(() => assertDurableId('t', 'é'.repeat(MAX_ID_BYTES / 2))); // 2 bytes each
    ok(() => assertDurableId('t', 'a\uD83D\uDE00b')); // a surrogate pair
    ok(() => assertDurableId('t', '\uD83D\uDE00'));
    refused(() => assertDurableId('t', 'x'.repeat(MAX_ID_BYTES + 1)), /^t: id is 1025 bytes of UTF-8; at most 1024$/);
    refused(() => assertDurableId('t', 'é'.repeat(MAX_ID_BYTES / 2 + 1)), /^t: id is 1026 bytes of UTF-8; at most 1024$/);
    refused(() => assertDurableId('t', ''), /^t: id must be a non-empty string, got ""$/);
    refused(() => assertDurableId('t', 7), /^t: id must be a non-empty string, got 7$/);
    refused(() => assertDurableId('t', 'a\u0000'), /^t: id must be storable text, but it holds a NUL character \(\\u0000\)$/);
  });

  it('a lone surrogate anywhere, high or low, is refused; a pair is not', () => {
    const lone = /^t: id must be storable text, but it holds a lone surrogate \(not well-formed UTF-16\)$/;
    for (const id of ['\uD800', 'a\uDBFFb', '\uDC00', 'a\uDFFF', '\uDE00\uD83D', 'x\uD83Dy\uDE00', '\uD83D\uD83D\uDE00\uDE00']) {
      refused(() => assertDurableId('t', id), lone);
    }
    for (const id of ['\uD800\uDC00', '\uDBFF\uDFFF', 'a\uD83D\uDE00\uD83D\uDE00z']) ok(() => assertDurableId('t', id));
  });
});

describe('durable deadlines', () => {
  it('epoch ms or a Date from 1e12 on, or { ttlMs } from 0 on', () => {
    expect(toDurableDeadline('t', 1e12)).toStrictEqual({ at: 1e12 });
    expect(toDurableDeadline('t', new Date(1_800_000_000_000))).toStrictEqual({ at: 1_800_000_000_000 });
    expect(toDurableDeadline('t', { ttlMs: 0 })).toStrictEqual({ ttlMs: 0 });
    expect(toDurableDeadline('t', { ttlMs: 2.5 })).toStrictEqual({ ttlMs: 2.5 });
    const message = /^t must be a number of milliseconds, a valid Date, or \{ ttlMs \} \(a finite number ≥ 0\), got /;
    for (const bad of [Number.NaN, Infinity, new Date(Number.NaN), null, undefined, '1e13', {}, { ttl: 5 }]) {
      refused(() => toDurableDeadline('t', bad), message);
    }
    const ttl = /^t \d+ is not a deadline on the real clock \(epoch ms\); deadlines are absolute: pass Date\.now\(\) \+ ttl, or \{ ttlMs \}$/;
    for (const bad of [1e12 - 1, 60_000, new Date(5)]) refused(() => toDurableDeadline('t', bad), ttl);
    for (const ttlMs of [-1, Number.NaN, Infinity, '5', null]) refused(() => toDurableDeadline('t', { ttlMs }), message);
  });
});

describe('durable data', () => {
  it('JSON a jsonb column keeps as it is', () => {
    const shared = { s: 'é\uD83D\uDE00' };
    for (const value of [null, true, false, 0, -1.5, '', 'text', [], {}, [null, [1, [2]]], { a: { b: [true] } }, Object.create(null), { x: shared, y: [shared, shared] }]) {
      ok(() => assertJson('t', value, 'data'));
    }
  });

  it('anything else: a TypeError naming the path inside data and what is there', () => {
    class Point {
      x = 1;
    }
    const orphan = Object.create(Object.create(null) as object) as object;
    const deep: Record<string, unknown> = { a: [{}] };
    (deep['a'] as Array<Record<string, unknown>>)[0]!['up'] = deep;
    const cases: Array<[unknown, string]> = [
      [undefined, 'data must be JSON, but it is undefined'],
      [Symbol('s'), 'data must be JSON, but it is symbol'],
      [() => 1, 'data must be JSON, but it is function'],
      [10n, 'data must be JSON, but it is a BigInt'],
      [-Infinity, 'data must be JSON, but it is -Infinity'],
      [{ n: Number.NaN }, 'data.n must be JSON, but it is NaN'],
      [[1, 'ok', 'a\u0000'], 'data[2] must be JSON, but it is a string with a NUL character (\\u0000)'],
      [{ k: ['x', { m: '\uDC00' }] }, 'data.k[1].m must be JSON, but it is a string with a lone surrogate (not well-formed UTF-16)'],
      [{ 'a\u0000': 1 }, 'data must be JSON, but a key holds a NUL character (\\u0000)'],
      [new Point(), 'data must be JSON, but it is a Point object'],
      [{ p: new Map() }, 'data.p must be JSON, but it is a Map object'],
      [orphan, 'data must be JSON, but it is a non-plain object'],
      [deep, 'data.a[0].up must be JSON, but it is circular (it contains itself)'],
    ];
    for (const [value, message] of cases) {
      expect(() => assertJson('t', value, 'data')).toThrow(TypeError);
      expect(() => assertJson('t', value, 'data')).toThrow(`t: ${message}`);
    }
  });
});

describe('durable namespaces and timeouts', () => {
  it('a namespace: printable text up to MAX_NAMESPACE_BYTES bytes', () => {
    expect(MAX_NAMESPACE_BYTES).toBe(200);
    for (const ns of ['a', ' ', '~', '\u0080x', 'n'.repeat(200), 'é'.repeat(100), 'a\uD83D\uDE00']) ok(() => assertNamespace('t', ns));
    refused(() => assertNamespace('t', ''), /^t: namespace must be a non-empty string, got ""$/);
    refused(() => assertNamespace('t', 3), /^t: namespace must be a non-empty string, got 3$/);
    for (const ns of ['a\u0000', 'a\nb', '\u001f', 'x\u007f']) {
      refused(() => assertNamespace('t', ns), /^t: namespace must be printable text, but it holds a control character$/);
    }
    refused(() => assertNamespace('t', 'a\uD800'), /^t: namespace must be printable text, but it holds a lone surrogate/);
    refused(() => assertNamespace('t', 'n'.repeat(201)), /^t: namespace is 201 bytes of UTF-8; at most 200$/);
    refused(() => assertNamespace('t', 'é'.repeat(101)), /^t: namespace is 202 bytes of UTF-8; at most 200$/);
  });

  it('a timeout: whole milliseconds from its minimum to 2^31 − 1', () => {
    expect(MAX_TIMEOUT_MS).toBe(2 ** 31 - 1);
    ok(() => assertMs('t', 'x', 30, 30));
    ok(() => assertMs('t', 'x', MAX_TIMEOUT_MS, 30));
    ok(() => assertMs('t', 'x', 100, 30, 100));
    const message = /^t: x must be a whole number of milliseconds from 30 to 2147483647, got /;
    for (const bad of [29, 2 ** 31, 30.5, Number.NaN, '40', undefined]) refused(() => assertMs('t', 'x', bad, 30), message);
    refused(() => assertMs('t', 'x', 101, 30, 100), /from 30 to 100, got 101$/);
  });
});

describe('durable stores and managers refuse bad options at creation', () => {
  it('schema names: lowercase identifiers of 63 characters at most, not reserved words', () => {
    for (const schema of ['a', '_x', 'a1_b', 'a'.repeat(63), 'users', 'selection']) ok(() => pgliteStore({ schema }));
    // null reads as 'null' to a regular expression: refused for not being a string.
    for (const schema of ['', 'A', '1a', 'a-b', 'a b', 'a'.repeat(64), 'é', 3, null]) {
      refused(() => pgliteStore({ schema: schema as string }), /^pgliteStore: schema must be a lowercase identifier \(a-z, 0-9, _\), got /);
    }
    for (const schema of ['all', 'analyse', 'select', 'user', 'with', 'window', 'current_user', 'table']) {
      refused(() => pgliteStore({ schema }), new RegExp(`^pgliteStore: schema "${schema}" is a reserved word of PostgreSQL; pick another name$`));
    }
  });

  it('pgliteStore: options, dataDir and migrate', () => {
    refused(() => pgliteStore(null as never), /^pgliteStore: options must be an object$/);
    refused(() => pgliteStore('dir' as never), /^pgliteStore: options must be an object$/);
    for (const dataDir of ['', 5]) refused(() => pgliteStore({ dataDir: dataDir as string }), /^pgliteStore: dataDir must be a non-empty string$/);
    refused(() => pgliteStore({ migrate: 'no' as never }), /^pgliteStore: migrate must be a boolean$/);
    ok(() => pgliteStore({ migrate: false }));
    expect(pgliteStore({ schema: 'mine' })).toMatchObject({ kind: 'pglite', schema: 'mine' });
    expect(pgliteStore()).toMatchObject({ kind: 'pglite', schema: 'xstate_expire' });
  });

  it('postgresStore: a connection string or a node-postgres pool, max and migrate', () => {
    const connectionString = 'postgres://127.0.0.1:1/x';
    refused(() => postgresStore(null as never), /^postgresStore: options must be an object$/);
    refused(() => postgresStore(connectionString as never), /^postgresStore: options must be an object$/);
    for (const pool of [{}, { query: () => {} }, { connect: () => {} }, null]) {
      refused(() => postgresStore({ pool: pool as never }), /^postgresStore: pool must be a node-postgres Pool$/);
    }
    for (const options of [{}, { connectionString: '' }, { connectionString: 5 }]) {
      refused(() => postgresStore(options as never), /^postgresStore: pass \{ connectionString \} or \{ pool \}$/);
    }
    for (const max of [0, -1, 1.5, Number.NaN]) {
      refused(() => postgresStore({ connectionString, max }), /^postgresStore: max must be a positive integer$/);
    }
    refused(() => postgresStore({ connectionString, migrate: 1 as never }), /^postgresStore: migrate must be a boolean$/);
    refused(() => postgresStore({ connectionString, schema: 'Bad' }), /^postgresStore: schema must be a lowercase identifier/);
    ok(() => postgresStore({ connectionString, max: 1 }));
    const pool = { query: async () => ({ rows: [] }), connect: async () => ({}) };
    expect(postgresStore({ pool: pool as never })).toMatchObject({ kind: 'postgres', schema: 'xstate_expire' });
  });

  it('createDurableExpireManager: every option checked before the store is touched', async () => {
    let touched = 0;
    const store = {
      kind: 'fake',
      schema: 'fake',
      acquire: async () => void touched++,
      release: async () => {},
      query: async () => [],
      transaction: async () => {
        throw new Error('no transaction');
      },
      listen: async () => {
        throw new Error('not here');
      },
    };
    const closers = { lease: () => {} };
    const bad: Array<[Record<string, unknown> | null, string]> = [
      [null, 'options must be an object'],
      [{ closers }, 'store must be pgliteStore(...) or postgresStore(...)'],
      [{ store: { ...store, acquire: undefined }, closers }, 'store must be pgliteStore(...) or postgresStore(...)'],
      [{ store: { ...store, transaction: 1 }, closers }, 'store must be pgliteStore(...) or postgresStore(...)'],
      [{ store }, 'closers must name at least one closer'],
      [{ store, closers: {} }, 'closers must name at least one closer'],
      [{ store, closers: 'lease' }, 'closers must name at least one closer'],
      [{ store, closers: { lease: () => {}, session: 'no' } }, 'closers.session must be a function'],
      [{ store, closers, namespace: '' }, 'namespace must be a non-empty string'],
      [{ store, closers, claimTimeoutMs: 29 }, 'claimTimeoutMs must be a whole number of milliseconds from 30 to 2147483647'],
      [{ store, closers, pauseTimeoutMs: 29 }, `pauseTimeoutMs must be a whole number of milliseconds from 30 to ${Number.MAX_SAFE_INTEGER}`],
      [{ store, closers, pauseTimeoutMs: Number.MAX_SAFE_INTEGER + 1 }, 'pauseTimeoutMs must be'],
      [{ store, closers, pollIntervalMs: 9 }, 'pollIntervalMs must be a whole number of milliseconds from 10 to 2147483647'],
      [{ store, closers, concurrency: 0 }, 'concurrency must be a whole number from 1 to 10000, got 0'],
      [{ store, closers, concurrency: 10_001 }, 'concurrency must be a whole number from 1 to 10000, got 10001'],
      [{ store, closers, concurrency: 2.5 }, 'concurrency must be a whole number from 1 to 10000, got 2.5'],
      [{ store, closers, onCloseError: 'log' }, 'onCloseError must be a function'],
      [{ store, closers, signal: {} }, 'signal must be an AbortSignal'],
    ];
    for (const [options, message] of bad) {
      const create = () => createDurableExpireManager(options as never);
      await expect(create(), message).rejects.toThrow(TypeError);
      await expect(create(), message).rejects.toThrow(`createDurableExpireManager: ${message}`);
    }
    expect(touched).toBe(0);
    // The edges themselves pass the checks (and reach the store).
    const edges = [
      { claimTimeoutMs: 30, pauseTimeoutMs: Number.MAX_SAFE_INTEGER, pollIntervalMs: 10, concurrency: 1 },
      { claimTimeoutMs: MAX_TIMEOUT_MS, pauseTimeoutMs: 30, pollIntervalMs: MAX_TIMEOUT_MS, concurrency: 10_000 },
      { signal: new AbortController().signal, onCloseError: () => {} },
    ];
    for (const edge of edges) {
      const before = touched;
      await expect(createDurableExpireManager({ store, closers, ...edge })).rejects.toThrow('not here');
      expect(touched).toBeGreaterThan(before);
    }
  });
});

describe('schema versions and store sharing', () => {
  it('SchemaVersionError says which side is behind, and what to do', () => {
    const newer = new SchemaVersionError('s1', 3, 2);
    expect(newer).toBeInstanceOf(Error);
    expect(newer).toMatchObject({ name: 'SchemaVersionError', schema: 's1', found: 3, expected: 2 });
    expect(newer.message).toBe(
      'xstate-expire: schema s1 is at version 3, newer than this library\'s (2): upgrade xstate-expire in this process (an older library cannot run a newer schema)',
    );
    const older = new SchemaVersionError('s1', 1, 2);
    expect(older.message).toBe(
      "xstate-expire: schema s1 is at version 1, older than this library's (2), and the store was opened with migrate: false: run `npx xstate-expire migrate --store …` first",
    );
  });

  it('refCounted: the first acquire opens, concurrent ones share it, the last release closes, a failed open is retried', async () => {
    const log: string[] = [];
    let failNext = false;
    const shared = refCounted(
      async () => {
        log.push('open');
        await Promise.resolve();
        if (failNext) {
          failNext = false;
          throw new Error('no server');
        }
      },
      async () => void log.push('close'),
    );
    await Promise.all([shared.acquire(), shared.acquire()]);
    expect(log).toEqual(['open']);
    await shared.release();
    expect(log).toEqual(['open']);
    await shared.release();
    expect(log).toEqual(['open', 'close']);
    await shared.release(); // one too many: nothing happens, and the count stays at zero
    expect(log).toEqual(['open', 'close']);
    await shared.acquire();
    expect(log).toEqual(['open', 'close', 'open']);
    await shared.release();
    expect(log).toEqual(['open', 'close', 'open', 'close']);
    failNext = true;
    await expect(shared.acquire()).rejects.toThrow('no server');
    await shared.release(); // the failed acquire holds nothing
    expect(log).toEqual(['open', 'close', 'open', 'close', 'open']);
    await shared.acquire(); // opened afresh, not the failed opening
    await shared.release();
    expect(log).toEqual(['open', 'close', 'open', 'close', 'open', 'open', 'close']);
  });
});
