import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * The registry's metrics: an OpenTelemetry SDK whose only reader is the
 * Prometheus exporter, served by the registry's own HTTP server on
 * `GET /metrics` (no second port). Hand `meterProvider` to the manager.
 */
export function prometheusMetrics(): {
  meterProvider: ApiMeterProvider;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  shutdown(): Promise<void>;
} {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  return {
    meterProvider,
    handler: (req, res) => exporter.getMetricsRequestHandler(req, res),
    shutdown: () => meterProvider.shutdown(),
  };
}
