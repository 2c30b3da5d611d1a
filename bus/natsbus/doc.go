// Package natsbus spreads a Tether event bus over several core replicas
// with NATS core (no JetStream).
//
// Each replica keeps its own bus.Memory, with its own sequence ids, window
// and bounded subscriber queues; natsbus.Bus adds the NATS link. Publish
// delivers to the local bus and sends the event on the subject
// "tether.events.<name>" as a serialized tetherv1.Event (its id unset), with
// the sending replica's id in the "Tether-Replica" header. Every replica
// subscribes to "tether.events.>" and publishes what other replicas sent into
// its local bus, where it gets a local id; its own messages, echoed back by
// NATS, are skipped, so nothing is delivered twice.
//
// Order: events published on one replica reach every other replica in the
// order they were published there (one NATS connection per replica keeps
// order, and one subscription callback feeds the local bus). Events from
// different replicas may interleave differently on each replica. NATS core
// is at-most-once: events sent while a replica is disconnected are not
// replayed to it.
package natsbus
