import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * An OpenTelemetry SDK on the in-memory exporters, passed to a manager as
 * `meterProvider` and `tracerProvider` (nothing global but the context manager,
 * which nests the user's spans under the close's).
 */
export function otel() {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when flushed by the test.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });

  /** The data points of metric `name` at a fresh collection. */
  const points = async <T = number>(name: string): Promise<Array<DataPoint<T>>> => {
    metricExporter.reset();
    await reader.forceFlush();
    const metrics = metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    return metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as Array<DataPoint<T>>);
  };
  /** The value of metric `name` for the point whose attributes include `attributes` (0 when none). */
  const value = async (name: string, attributes: Record<string, unknown> = {}): Promise<number> => {
    const matching = (await points(name)).filter((p) =>
      Object.entries(attributes).every(([key, v]) => p.attributes[key] === v),
    );
    return matching.reduce((sum, p) => sum + (p.value as number), 0);
  };
  /** The histogram points of `name`. */
  const histogram = (name: string) => points<Histogram>(name);
  const shutdown = async (): Promise<void> => {
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    context.disable();
  };
  return { meterProvider, tracerProvider, spans: () => spanExporter.getFinishedSpans(), points, value, histogram, shutdown };
}
