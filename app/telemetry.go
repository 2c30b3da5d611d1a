package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// setupTracing installs the OpenTelemetry SDK with an OTLP exporter when
// the standard variables ask for one: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, OTEL_TRACES_EXPORTER unset or
// "otlp", OTEL_SDK_DISABLED not "true". OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL
// chooses "http/protobuf" (the default) or "grpc"; the exporters read their
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, insecure,
// certificates) themselves, and the SDK reads OTEL_TRACES_SAMPLER,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. The service name defaults
// to the app's productName, identifier or "tether". Without these
// variables, nothing is exported and spans cost next to nothing.
func (a *App) setupTracing() (trace.TracerProvider, error) {
	if !tracingWanted() {
		return nil, nil
	}
	ctx := context.Background()
	var exp sdktrace.SpanExporter
	var err error
	switch proto := otlpProtocol(); proto {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (use http/protobuf or grpc)", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry: %v", err)
	}
	name := a.cfg.ProductName
	if name == "" {
		name = a.cfg.Identifier
	}
	if name == "" {
		name = "tether"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry: %v", err)
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	a.close = append(a.close, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil { // flushes what is left
			a.log.Warn("tether: flushing traces", "err", err)
		}
	})
	a.log.Info("tether: exporting traces over OTLP", "protocol", otlpProtocol(), "service", name)
	return tp, nil
}

func tracingWanted() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(os.Getenv("OTEL_TRACES_EXPORTER")) {
	case "", "otlp":
	default:
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func otlpProtocol() string {
	if p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" {
		return p
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" {
		return p
	}
	return "http/protobuf"
}
