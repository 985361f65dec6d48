import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableGauge,
  type ObservableResult,
  ProxyTracerProvider,
  type Span,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  context,
  createNoopMeter,
  metrics,
  trace,
} from '@opentelemetry/api';
import { type CloseOutcome, NAMES, SCOPE } from './names.js';

/** The OpenTelemetry options both managers take. */
export interface TelemetryOptions {
  /** Where the manager's instruments come from. Default: the global one (`metrics.setGlobalMeterProvider`). */
  meterProvider?: MeterProvider;
  /** Where the close spans go. Default: the global one (`trace.setGlobalTracerProvider`). */
  tracerProvider?: TracerProvider;
}

/** What a close's span and measurements say about it. */
export interface CloseInfo {
  id: string;
  /** Its generation: unique per id and incarnation. */
  generation: number;
  /** 1 for a first run; 2 for a close taken over from a process whose claim ran out (durable). */
  attempt: number;
  /** Close start − deadline, in ms, on the manager's clock (durable: the database's). */
  lateness: number;
  /** Its closer's name (durable). */
  closer?: string;
}

/** One entities count: how many live entities are in `state`. */
export type EntityCount = readonly [state: string, count: number];

const NOOP_METER = createNoopMeter();
const VERSION = '0.1.0';

/** Throws a TypeError unless `options` holds usable providers (or none). */
export function assertTelemetryOptions(owner: string, options: TelemetryOptions): void {
  const { meterProvider, tracerProvider } = options;
  if (meterProvider !== undefined && typeof (meterProvider as Partial<MeterProvider> | null)?.getMeter !== 'function') {
    throw new TypeError(`${owner}: meterProvider must be an OpenTelemetry MeterProvider`);
  }
  if (tracerProvider !== undefined && typeof (tracerProvider as Partial<TracerProvider> | null)?.getTracer !== 'function') {
    throw new TypeError(`${owner}: tracerProvider must be an OpenTelemetry TracerProvider`);
  }
}

/** Whether a tracer provider is the API's no-op (the global one before an SDK is registered). */
function isNoopTracerProvider(provider: TracerProvider): boolean {
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  const probe = new ProxyTracerProvider().getDelegate();
  return delegate === probe || delegate.constructor === probe.constructor;
}

/**
 * A manager's instruments and tracer, resolved once when it is created, so
 * that nothing is looked up per entity or per close.
 *
 * With no SDK registered (the API's no-ops), {@link ExpireTelemetry.enabled}
 * is `false`, and the in-memory manager leaves its hot path untouched.
 */
export class ExpireTelemetry {
  /** Whether a real meter or tracer is behind it (decided when the manager is created). */
  readonly enabled: boolean;
  readonly #tracer: Tracer;
  readonly #entities: ObservableGauge;
  readonly #closes: Counter;
  readonly #lateness: Histogram;
  readonly #duration: Histogram;
  readonly #reclaims: Counter;
  /** Attributes on every measurement by closer, per closer name (durable). */
  readonly #byCloser = new Map<string, Attributes>();

  /** Resolves the providers (given, else the global ones) and creates the instruments. */
  constructor(options: TelemetryOptions = {}) {
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const meter: Meter = meterProvider.getMeter(SCOPE, VERSION);
    this.#tracer = tracerProvider.getTracer(SCOPE, VERSION);
    this.enabled = meter.constructor !== NOOP_METER.constructor || !isNoopTracerProvider(tracerProvider);
    this.#entities = meter.createObservableGauge(NAMES.entities, { description: 'Live entities, by state.' });
    this.#closes = meter.createCounter(NAMES.closes, { description: 'Closes finished, by outcome.' });
    this.#lateness = meter.createHistogram(NAMES.lateness, {
      description: 'How late closes start: close start minus deadline.',
      unit: 'ms',
    });
    this.#duration = meter.createHistogram(NAMES.duration, { description: 'How long closes run, by outcome.', unit: 'ms' });
    this.#reclaims = meter.createCounter(NAMES.reclaims, {
      description: 'Closes taken over from another process whose claim ran out.',
    });
  }

  /**
   * Reports the entities gauge from `read` at each collection (`attributes`
   * added to every count, e.g. the namespace). Resolves nothing by itself;
   * returns the function that stops it (call it on dispose).
   */
  observeEntities(
    read: () => Iterable<EntityCount> | Promise<Iterable<EntityCount>>,
    attributes: Attributes = {},
  ): () => void {
    const callback = async (result: ObservableResult): Promise<void> => {
      for (const [state, count] of await read()) result.observe(count, { ...attributes, state });
    };
    this.#entities.addCallback(callback);
    return () => this.#entities.removeCallback(callback);
  }

  /** A close taken over from another process (durable). */
  reclaimed(): void {
    this.#reclaims.add(1);
  }

  /** A close starts: its lateness is recorded and its span opened; end it with {@link CloseSpan.end}. */
  startClose(info: CloseInfo): CloseSpan {
    const closer = info.closer === undefined ? undefined : this.#closerAttributes(info.closer);
    const span = this.#tracer.startSpan(NAMES.closeSpan, {
      attributes: {
        'xstate_expire.entity.id': info.id,
        'xstate_expire.entity.generation': info.generation,
        'xstate_expire.close.attempt': info.attempt,
        ...(info.closer === undefined ? {} : { 'xstate_expire.closer': info.closer }),
      },
    });
    this.#lateness.record(Math.max(0, info.lateness), closer);
    return new CloseSpan(this, span, closer);
  }

  /** @internal Records a finished close. */
  finished(outcome: CloseOutcome, ms: number, closer: Attributes | undefined): void {
    this.#closes.add(1, closer === undefined ? { outcome } : { ...closer, outcome });
    this.#duration.record(ms, { outcome });
  }

  #closerAttributes(closer: string): Attributes {
    let attributes = this.#byCloser.get(closer);
    if (attributes === undefined) this.#byCloser.set(closer, (attributes = Object.freeze({ closer })));
    return attributes;
  }
}

/** One running close: its span, and when it started. */
export class CloseSpan {
  readonly #started = performance.now();
  #ended = false;

  /** @internal Use {@link ExpireTelemetry.startClose}. */
  constructor(
    readonly telemetry: ExpireTelemetry,
    /** The close's span, `xstate_expire.close`. */
    readonly span: Span,
    readonly closer: Attributes | undefined,
  ) {}

  /** Runs `work` (the user's close) with the span as the active one, so that its own spans nest under it. */
  run<T>(work: () => T): T {
    return context.with(trace.setSpan(context.active(), this.span), work);
  }

  /** The close has finished: its outcome is counted, its duration recorded, and its span ended (an error status with the error). */
  end(outcome: CloseOutcome, error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.telemetry.finished(outcome, performance.now() - this.#started, this.closer);
    this.span.setAttribute('xstate_expire.close.outcome', outcome);
    if (outcome === 'error' || outcome === 'timeout') {
      if (error instanceof Error) this.span.recordException(error);
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : outcome === 'timeout' ? 'the claim ran out' : String(error),
      });
    }
    this.span.end();
  }
}

/**
 * Wraps an in-memory close so that it runs in its span and is measured; it
 * rethrows, so the manager still reports the error. `generation` is read when
 * the close starts (the manager sets it once the entity is armed).
 */
export function instrumentClose(
  telemetry: ExpireTelemetry,
  id: string,
  deadline: number,
  now: () => number,
  close: (signal: AbortSignal) => unknown,
): { close: (signal: AbortSignal) => Promise<unknown>; generation: number } {
  const wrapped = {
    generation: 0,
    close: async (signal: AbortSignal): Promise<unknown> => {
      const span = telemetry.startClose({ id, generation: wrapped.generation, attempt: 1, lateness: now() - deadline });
      try {
        const value = await span.run(() => close(signal));
        span.end(signal.aborted ? 'aborted' : 'ok');
        return value;
      } catch (error) {
        span.end(signal.aborted ? 'aborted' : 'error', error);
        throw error;
      }
    },
  };
  return wrapped;
}
