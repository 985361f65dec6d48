import { describe, parseDeadline } from '../shared/validate.js';

/** The longest id, in UTF-8 bytes: a btree entry holds about 2.7 kB, and the id shares the live index with the namespace. */
export const MAX_ID_BYTES = 1_024;

/** The longest namespace, in UTF-8 bytes: it travels in every NOTIFY payload (8,000 bytes at most) and in every index entry. */
export const MAX_NAMESPACE_BYTES = 200;

/** The longest timeout or interval: what a Node timer and PostgreSQL's `*_timeout` settings (int32 ms) hold. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A lone surrogate: JavaScript strings hold one, PostgreSQL's UTF-8 text cannot (it would be replaced, and two ids collide). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored as PostgreSQL text, or `undefined` when it can. */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'a lone surrogate (not well-formed UTF-16)';
  return undefined;
}

/**
 * Throws a TypeError unless `id` is a durable entity id: a non-empty,
 * well-formed string without NUL, at most {@link MAX_ID_BYTES} bytes of UTF-8.
 */
export function assertDurableId(owner: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') throw new TypeError(`${owner}: id must be a non-empty string, got ${describe(id)}`);
  const problem = textProblem(id);
  if (problem !== undefined) throw new TypeError(`${owner}: id must be storable text, but it holds ${problem}`);
  // Stryker disable next-line StringLiteral: Buffer.byteLength counts UTF-8 for an empty encoding name too
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_ID_BYTES) throw new TypeError(`${owner}: id is ${bytes} bytes of UTF-8; at most ${MAX_ID_BYTES}`);
}

/** A durable deadline: epoch ms on the database's clock (finite), a Date, or `{ ttlMs }` from the database's now. */
export const toDurableDeadline = (where: string, deadline: unknown): ReturnType<typeof parseDeadline> =>
  parseDeadline(where, deadline, { realTime: true, finite: true });

/**
 * Throws a TypeError naming the path inside `value` unless it is JSON that
 * PostgreSQL's `jsonb` stores as it is: null, booleans, finite numbers,
 * strings without NUL or lone surrogates, arrays and plain objects of them
 * (keys included), with no cycle.
 */
export function assertJson(owner: string, value: unknown, path: string): void {
  // Stryker disable next-line ArrayDeclaration: a string among the ancestors equals no object, and strings are checked before
  checkJson(owner, value, path, []);
}

function checkJson(owner: string, value: unknown, path: string, ancestors: object[]): void {
  const fail = (what: string): never => {
    throw new TypeError(`${owner}: ${path} must be JSON, but it is ${what}`);
  };
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'string') {
    const problem = textProblem(value);
    if (problem !== undefined) fail(`a string with ${problem}`);
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(String(value));
    return;
  }
  if (typeof value !== 'object') return fail(typeof value === 'bigint' ? 'a BigInt' : typeof value);
  if (ancestors.includes(value)) fail('circular (it contains itself)');
  const inside = [...ancestors, value];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkJson(owner, value[i], `${path}[${i}]`, inside);
    return;
  }
  const prototype = Object.getPrototypeOf(value);
  // Stryker disable next-line OptionalChaining: prototype is not null here (checked just before)
  if (prototype !== Object.prototype && prototype !== null) fail(`a ${prototype?.constructor?.name ?? 'non-plain'} object`);
  for (const key of Object.keys(value)) {
    const problem = textProblem(key);
    if (problem !== undefined) throw new TypeError(`${owner}: ${path} must be JSON, but a key holds ${problem}`);
    checkJson(owner, (value as Record<string, unknown>)[key], `${path}.${key}`, inside);
  }
}

/**
 * Throws a TypeError unless `namespace` is a non-empty string of printable
 * text at most {@link MAX_NAMESPACE_BYTES} bytes long: it is part of every
 * NOTIFY payload, whose fields a newline separates.
 */
export function assertNamespace(owner: string, namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string' || namespace === '') {
    throw new TypeError(`${owner}: namespace must be a non-empty string, got ${describe(namespace)}`);
  }
  // Control characters (a newline would split the NOTIFY payload) and what text cannot hold.
  // eslint-disable-next-line no-control-regex
  const problem = /[\u0000-\u001f\u007f]/.test(namespace) ? 'a control character' : textProblem(namespace);
  if (problem !== undefined) throw new TypeError(`${owner}: namespace must be printable text, but it holds ${problem}`);
  // Stryker disable next-line StringLiteral: as above
  const bytes = Buffer.byteLength(namespace, 'utf8');
  if (bytes > MAX_NAMESPACE_BYTES) {
    throw new TypeError(`${owner}: namespace is ${bytes} bytes of UTF-8; at most ${MAX_NAMESPACE_BYTES}`);
  }
}

/** Throws a TypeError unless `value` is a whole number of milliseconds in `min..max`. */
export function assertMs(owner: string, name: string, value: unknown, min: number, max = MAX_TIMEOUT_MS): asserts value is number {
  // Stryker disable next-line ConditionalExpression: the typeof check forced false: Number.isInteger is false for anything but a number
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${owner}: ${name} must be a whole number of milliseconds from ${min} to ${max}, got ${describe(value)}`);
  }
}
