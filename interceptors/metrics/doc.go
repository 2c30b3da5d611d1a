// Package metrics counts what passes through a Tether core for Prometheus.
//
// A Metrics holds its own registry (never the global one), so several can
// live in one process and in tests. Its interceptors go in the command chain
// and the stream chain; Handler serves the registry at /metrics:
//
//	m := metrics.New()
//	srv := server.New(
//		server.WithInterceptors(m.UnaryServerInterceptor()),
//		server.WithStreamInterceptors(m.StreamServerInterceptor()),
//	)
//	http.Handle("/metrics", m.Handler())
//
// The metrics:
//
//	tether_invokes_total{command,code}             commands that ended (unary and channel)
//	tether_invoke_duration_seconds{command}        histogram of unary command durations
//	tether_events_emitted_total{event}             events emitted successfully through the chain
//	tether_listeners                               live listen streams
//	tether_channel_messages_total{command}         messages sent on channel commands
//	tether_isolation_rejections_total{reason}      calls the isolation stage refused (IsolationRejected)
//	tether_bus_delivered_total                     events queued to subscribers (BusObserver)
//	tether_bus_dropped_total{event}                events dropped for lagging subscribers (BusObserver)
//
// plus the Go runtime and process collectors.
//
// Label values are bounded. A command label is the name the core resolved
// from its registry (tether.Call.Name); a call without one, such as a method
// of a plain gRPC server that is not a Tether command, counts as "unknown",
// so a caller can never create a label value by naming a command. Event
// names and rejection reasons are chosen by callers, so each label keeps at
// most MaxLabelValues distinct values (default 256; commands 1024); later
// newcomers count as "other". WithEvents restricts event labels to a known
// list.
package metrics
