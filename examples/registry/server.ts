import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { LeaseRegistry, type Registry, type RegistryOptions } from './registry.js';

/**
 * The largest `ttlMs` a lease may ask for: 24 h. A lease is meant to be refreshed
 * often; a bound also keeps deadlines far below timer overflow (2^31 - 1 ms).
 */
export const MAX_TTL_MS = 86_400_000;

/** A 4xx answer: the request is wrong and nothing changed. */
class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A 405: RFC 9110 requires it to list the path's methods in `Allow`. */
const methodNotAllowed = (allow: string) => new BadRequest(`method not allowed: use ${allow}`, 405, { allow });

const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, body === undefined ? headers : { ...headers, 'content-type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
};

function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // A URIError is the client's malformed escape, not a store failure (503).
    throw new BadRequest(`lease id ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 1_000_000) throw new BadRequest('body too large', 413);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('body must be JSON: { "ttlMs": number, "data"?: any }');
  }
}

/** `data` is `undefined` when the body has none: a refresh then keeps the stored data. */
function parseRegistration(body: unknown): { ttlMs: number; data: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('body must be a JSON object: { "ttlMs": number, "data"?: any }');
  }
  const { ttlMs, data } = body as { ttlMs?: unknown; data?: unknown };
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) {
    throw new BadRequest('ttlMs must be a finite number of milliseconds, 0 or more');
  }
  if (ttlMs > MAX_TTL_MS) throw new BadRequest(`ttlMs must be at most ${MAX_TTL_MS} (24 h)`);
  return { ttlMs, data };
}

/** Options of {@link createRegistryServer}. */
export interface RegistryServerOptions extends RegistryOptions {
  /** Make every store register/unregister fail, as `?fail=register` / `?fail=unregister` does per request. */
  faults?: { register?: boolean; unregister?: boolean };
  /** Answers `GET /metrics` (e.g. the Prometheus exporter's handler, see metrics.ts); 404 without it. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** How long the store has to answer a health check. */
export const HEALTH_TIMEOUT_MS = 1_000;

/** Whether the registry's store answers within {@link HEALTH_TIMEOUT_MS}: 200 or 503, with a JSON body. */
async function health(registry: Registry, res: ServerResponse): Promise<void> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      registry.health(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the store did not answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      }),
    ]);
    send(res, 200, { status: 'ok', store: registry.kind, ms: Math.round(performance.now() - started) });
  } catch (error) {
    send(res, 503, { status: 'unavailable', store: registry.kind, error: (error as Error).message });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The lease registry over HTTP:
 * `PUT /leases/:id` `{ ttlMs, data? }` → 201 created / 200 refreshed (no `data` keeps the stored data),
 * 400 when `ttlMs` is not in 0..{@link MAX_TTL_MS};
 * `DELETE /leases/:id` → 204, 404 when unknown or expired;
 * `GET /leases`, `GET /leases/:id` (404 when unknown or expired);
 * `GET /healthz` → 200 when the store answers within a second, 503 otherwise (JSON);
 * `GET /metrics` → the `metrics` handler (Prometheus text).
 * A store failure answers 503 and keeps the lease with its deadline; a 405 lists the allowed methods in `Allow`.
 */
export function createRegistryServer<R extends Registry = LeaseRegistry>(
  /** `registry`: the registry to serve; default a new in-memory {@link LeaseRegistry} with the other options. */
  options: RegistryServerOptions & { registry?: R } = {},
): { server: Server; registry: R } {
  const registry = (options.registry ?? new LeaseRegistry(options)) as R;
  Object.assign(registry.faults, options.faults);

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://registry');
      const fail = url.searchParams.get('fail');
      if (url.pathname === '/healthz' || url.pathname === '/metrics') {
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        if (url.pathname === '/healthz') return await health(registry, res);
        if (!options.metrics) throw new BadRequest('not found: metrics are off', 404);
        return options.metrics(req, res);
      }
      const match = /^\/leases(?:\/([^/]+))?$/.exec(url.pathname);
      if (!match) throw new BadRequest('not found: try /leases', 404);
      const id = match[1] === undefined ? undefined : decodeId(match[1]);
      if (id === undefined) {
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        return send(res, 200, await registry.list());
      }
      if (id === '') throw new BadRequest('a lease needs a non-empty id');
      switch (req.method) {
        case 'GET': {
          const lease = await registry.get(id);
          return lease ? send(res, 200, lease) : send(res, 404, { error: `no live lease ${id}` });
        }
        case 'PUT': {
          const { ttlMs, data } = parseRegistration(await readJson(req));
          const { created, lease } = await registry.register(id, ttlMs, data, fail === 'register' || undefined);
          return send(res, created ? 201 : 200, lease);
        }
        case 'DELETE': {
          const closed = await registry.unregister(id, fail === 'unregister' || undefined);
          return closed ? send(res, 204) : send(res, 404, { error: `no live lease ${id}: unknown or already expired` });
        }
        default:
          throw methodNotAllowed('GET, PUT, DELETE');
      }
    } catch (error) {
      if (error instanceof BadRequest) return send(res, error.status, { error: error.message }, error.headers);
      // The library refuses bad input (data the store cannot hold, say) with a TypeError, before changing anything.
      if (error instanceof TypeError) return send(res, 400, { error: error.message });
      // A store failure: the lease keeps its old deadline (R1.2) or stays registered.
      return send(res, 503, { error: (error as Error).message });
    }
  });
  return { server, registry };
}
