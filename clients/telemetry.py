"""Tracing and metrics wiring: OpenTelemetry traces from the HTTP request through the workflow
to each activity, and Prometheus metrics from the API and the worker.

- Traces: `OTEL_TRACES_EXPORTER` = none | console | otlp (the OTel spec's variable; the OTLP
  exporter reads `OTEL_EXPORTER_OTLP_ENDPOINT` itself). Temporal spans come from temporalio's
  `TracingInterceptor`, HTTP spans from `opentelemetry-instrumentation-fastapi`.
- Worker metrics: the SDK's Core runtime serves Prometheus on `WORKER_METRICS_BIND`
  (temporal_* series plus ours from `activities.metrics`). Histograms of ours in seconds get
  buckets of their own (the Core SDK's default ones are for milliseconds: 50 to 10,000).
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from clients.settings import Settings


def build_tracer_provider(settings: Settings, service_name: str) -> TracerProvider | None:
    """A tracer provider exporting as `settings.otel_traces_exporter` says; None for "none"."""
    exporter: SpanExporter
    if settings.otel_traces_exporter == "none":
        return None
    if settings.otel_traces_exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[TracingInterceptor]:
    """Client interceptors (workers built on the client inherit them)."""
    return [TracingInterceptor(provider.get_tracer("render-studio"))] if provider is not None else []


# Seconds a model call may wait in its paced queue: from dispatch at once to a daily-quota pause.
QUEUE_WAIT_BUCKETS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0)


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on `settings.worker_metrics_bind`
    (host:port); None when it is empty. One runtime per process. Raises RuntimeError with what
    to do when the port is taken (two workers on one machine need two ports)."""
    if not settings.worker_metrics_bind:
        return None
    metrics = PrometheusConfig(
        bind_address=settings.worker_metrics_bind,
        counters_total_suffix=True,
        histogram_bucket_overrides={"render_queue_wait_seconds": QUEUE_WAIT_BUCKETS_S},
    )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=metrics))
    except ValueError as exc:  # the Core SDK reports a busy port this way
        raise RuntimeError(
            f"cannot serve worker metrics on {settings.worker_metrics_bind} ({exc}); set WORKER_METRICS_BIND "
            "to a free host:port for each worker on this machine, or to an empty value to disable metrics"
        ) from exc
