package bus

// Defaults of a Memory bus.
const (
	DefaultQueueSize   = 1024
	DefaultQueueBytes  = 8 << 20
	DefaultWindowSize  = 4096
	DefaultWindowBytes = 32 << 20
)

// Option configures a Memory bus.
type Option func(*config)

type config struct {
	queue, window, maxSubs int
	queueBytes             int64
	windowBytes            int64
	firstID                uint64
	history                History
}

// WithFirstID sets the id of the first event (default 1). Give each run of a
// process a larger first id than the last — such as the start time in
// microseconds, as server.New does — and a listener that resumes across a
// restart with an id from the previous run gets the new run's held events
// after a Lagged notice whose Dropped is 0 (unknown), instead of being
// taken for a listener from the future.
//
// With WithHistory, the first id is the first one the log may append: ids
// below it are read from the history.
func WithFirstID(id uint64) Option {
	return func(c *config) { c.firstID = max(id, 1) }
}

// WithQueueSize sets how many messages each subscriber's queue holds
// (default 1024). Values below 2 are raised to 2: a queue needs room for a
// Lagged notice and the event after it.
func WithQueueSize(n int) Option {
	return func(c *config) { c.queue = max(n, 2) }
}

// WithQueueBytes bounds the bytes of the events queued for one subscriber
// (default 8 MiB), counted as the window counts them (see WithWindowBytes).
// Past it the subscriber misses events and gets a Lagged notice, as when
// its queue is full. An event larger than the bound still reaches a
// subscriber whose queue is empty. Values below 1 count as the default.
func WithQueueBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.queueBytes = n
		}
	}
}

// WithWindowSize sets how many recent events the bus keeps for resuming
// subscribers (default 4096). 0 turns resuming off; negative values count
// as 0.
func WithWindowSize(n int) Option {
	return func(c *config) { c.window = max(n, 0) }
}

// WithWindowBytes bounds the bytes the resume window holds (default 32
// MiB): the oldest events leave it once the events held would exceed n,
// whatever their number. An event counts its payload twice (the payload as
// published, and the wire encoding made once for gRPC listeners), plus its
// name, target and source and a fixed 256 bytes. An event larger than n is
// delivered live but not kept. Values below 1 count as the default.
func WithWindowBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.windowBytes = n
		}
	}
}

// WithMaxSubscribers limits the number of live subscriptions, backend
// listeners included (default DefaultMaxSubscribers(), sized to the
// machine's memory). Values below 1 are raised to 1. Subscribing beyond the
// limit fails with code resource_exhausted.
func WithMaxSubscribers(n int) Option {
	return func(c *config) { c.maxSubs = max(n, 1) }
}

// WithHistory makes the bus the local copy of an ordered log that lives
// outside the process, such as a NATS JetStream stream (package natsbus):
// events enter it with Append, carrying the log's ids, and Publish fails.
// A subscription resuming from an id the window no longer holds (or never
// held, for an id from before the bus started) reads the missing events
// from h, then the window, then live events, with no gap or duplicate at
// either seam. A subscription resuming from an id the bus has not yet
// appended skips the live events up to it: it is taken as an id of the log
// that has not reached this copy yet.
func WithHistory(h History) Option {
	return func(c *config) { c.history = h }
}
