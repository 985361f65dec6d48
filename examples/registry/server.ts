import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { LeaseRegistry, type RegistryOptions } from './registry.js';

/** A 4xx answer: the request is wrong and nothing changed. */
class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const send = (res: ServerResponse, status: number, body?: unknown) => {
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
};

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

function parseRegistration(body: unknown): { ttlMs: number; data: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('body must be a JSON object: { "ttlMs": number, "data"?: any }');
  }
  const { ttlMs, data } = body as { ttlMs?: unknown; data?: unknown };
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) {
    throw new BadRequest('ttlMs must be a finite number of milliseconds, 0 or more');
  }
  return { ttlMs, data: data ?? null };
}

/** Options of {@link createRegistryServer}. */
export interface RegistryServerOptions extends RegistryOptions {
  /** Make every store register/unregister fail, as `?fail=register` / `?fail=unregister` does per request. */
  faults?: { register?: boolean; unregister?: boolean };
}

/**
 * The lease registry over HTTP:
 * `PUT /leases/:id` `{ ttlMs, data? }` → 201 created / 200 refreshed;
 * `DELETE /leases/:id` → 204, 404 when unknown or expired;
 * `GET /leases`, `GET /leases/:id` (404 when unknown or expired).
 * A store failure answers 503 and keeps the lease with its deadline.
 */
export function createRegistryServer(options: RegistryServerOptions = {}): { server: Server; registry: LeaseRegistry } {
  const registry = new LeaseRegistry(options);
  Object.assign(registry.store.faults, options.faults);

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://registry');
      const fail = url.searchParams.get('fail');
      const match = /^\/leases(?:\/([^/]+))?$/.exec(url.pathname);
      if (!match) throw new BadRequest('not found: try /leases', 404);
      const id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
      if (id === undefined) {
        if (req.method !== 'GET') throw new BadRequest('method not allowed', 405);
        return send(res, 200, registry.list());
      }
      if (id === '') throw new BadRequest('a lease needs a non-empty id');
      switch (req.method) {
        case 'GET': {
          const lease = registry.get(id);
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
          throw new BadRequest('method not allowed', 405);
      }
    } catch (error) {
      if (error instanceof BadRequest) return send(res, error.status, { error: error.message });
      // A store failure: the lease keeps its old deadline (R1.2) or stays registered.
      return send(res, 503, { error: (error as Error).message });
    }
  });
  return { server, registry };
}
