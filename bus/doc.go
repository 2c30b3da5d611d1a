// Package bus is the event bus behind Tether's Emit and Listen: Tauri-style
// named events, published by frontends, services or Go code, delivered to
// every listener whose filter matches, or only to one client label.
//
// Bus is the pluggable interface; Memory is the in-process implementation,
// and package natsbus spreads one bus over several core replicas with NATS.
//
// # Guarantees of Memory
//
//   - Ids: every published event gets the next id of one counter per bus
//     (1, 2, 3, …), so ids increase in publish order. A subscriber receives
//     the events it matches in id order; per publisher, in publish order.
//   - Bounded queues: each subscription has a queue of WithQueueSize
//     messages. Publish never blocks: when a subscriber's queue is full its
//     events are dropped, for it alone, and counted. Once it has read half of
//     its queue, it gets a Lagged notice {Dropped, ResumeAfter} at the exact
//     point of the gap, then the following events. A slow subscriber never
//     slows the publisher or the other subscribers.
//   - Resume: the bus holds the last WithWindowSize events, and no more than
//     WithWindowBytes of them (32 MiB by default). A subscription with
//     Filter.AfterID gets the held matching events after that id, then live
//     ones, with no gap or duplicate at the seam; where the window no longer
//     reaches back, a Lagged notice says how many ids are gone. The replay
//     reads the window as the subscriber goes: a subscriber too slow to read
//     it before it moves on gets a Lagged notice at that point.
//   - Targets: an event with a Target reaches only subscribers whose
//     Filter.Label equals it; other events reach every matching subscriber.
//   - Memory, in bytes: the window (WithWindowBytes) plus a queue per
//     subscriber (WithQueueBytes, 8 MiB by default, and WithQueueSize
//     messages). Subscribers are limited by WithMaxSubscribers
//     (resource_exhausted beyond it; by default DefaultMaxSubscribers, sized
//     to the machine's memory).
//
// # A copy of a log
//
// A Memory made WithHistory is the local copy of an ordered log outside the
// process — package natsbus keeps one per replica of a NATS JetStream stream.
// Events enter with Append and keep the log's ids, so ids are the same on
// every replica; a resume from an id the window does not hold reads the
// missing events from the log (History), then the window, then live ones.
//
// Event names follow Tauri's rule (see ValidName); errors are *tether.Error
// values with a code.
package bus
