// Package natsbus spreads a Tether event bus over several core replicas
// with NATS: on a JetStream stream (WithJetStream), or on NATS core alone.
//
// # With JetStream
//
// One stream per app (Stream; by default "TETHER_EVENTS" on the subjects
// "tether.events.>") carries every event: an untargeted event on
// "<prefix>.<name>", one aimed at a client label on
// "<prefix>.<name>.<label>". Publish returns once the stream has stored the
// event, and the event's id is its stream sequence number — the same on
// every replica, so an SSE "id:" seen on one replica means the same event
// on all of them.
//
// Each replica reads the stream, in order, with one ordered consumer into
// its local copy (a bus.Memory made WithHistory), which delivers to its
// listeners with the usual bounded queues and Lagged notices. A listener
// that resumes — Last-Event-ID, ListenRequest.after_id — on any replica
// gets the events after its id from that replica's copy or, for what the
// copy does not hold (the replica started later, or its window is
// smaller), from the stream itself, through an ephemeral consumer that asks
// only for the listener's names and label; then live events, with no gap or
// duplicate. The stream's limits (Stream.MaxAge, Stream.MaxBytes) are the
// resume window: when they have moved past the listener's id, a Lagged
// notice says how many ids are gone before what the stream still holds.
// The same holds live: when the limits remove events before a replica has
// read them (a small stream under a burst), that replica's listeners get a
// Lagged notice for those ids, in order, instead of missing them unseen.
//
// Events larger than the NATS server's max_payload (1 MiB by default) are
// refused with resource_exhausted; raise max_payload on the servers for
// larger events. Deleting and making the stream again restarts the ids at 1:
// a listener that resumes with an id from before gets the events from the
// new stream's end.
//
// # NATS core only
//
// Without WithJetStream, events are live only across replicas. Each
// replica keeps its own bus.Memory, with its own ids, window and queues.
// Publish delivers to the local bus and sends the event on
// "<prefix>.<name>" as a serialized tetherv1.Event (its id unset), with the
// sending replica's id in the "Tether-Replica" header; every replica
// subscribes to "<prefix>.>" and publishes what other replicas sent into
// its local bus, where it gets a local id; its own messages, echoed back by
// NATS, are skipped. Events published on one replica reach every other one
// in the order they were published there. NATS core is at-most-once: events
// sent while a replica is disconnected are not replayed to it, and an id
// means something on its own replica only — a listener that moves to
// another replica may miss or repeat events.
//
// # Health
//
// A Bus implements bus.Health: it is unhealthy while its NATS connection is
// down, and server.New then marks the server NOT_SERVING (gRPC health,
// /readyz). When the connection goes down, the bus ends its subscriptions
// with ErrNATSDown (code unavailable), so that listeners reconnect — behind
// a load balancer, to a ready replica — and resume there; Subscribe and
// Publish fail with it until the connection is back. Backend listeners
// (Listen, Once) go on, and with JetStream they get what they missed once
// the connection is back.
package natsbus
