package bus

// Defaults of a Memory bus.
const (
	DefaultQueueSize  = 1024
	DefaultWindowSize = 4096
)

// Option configures a Memory bus.
type Option func(*config)

type config struct {
	queue, window, maxSubs int
	firstID                uint64
}

// WithFirstID sets the id of the first event (default 1). Give each run of a
// process a larger first id than the last — such as the start time in
// microseconds, as server.New does — and a listener that resumes across a
// restart with an id from the previous run gets the new run's held events
// after a Lagged notice whose Dropped is 0 (unknown), instead of being
// taken for a listener from the future.
func WithFirstID(id uint64) Option {
	return func(c *config) { c.firstID = max(id, 1) }
}

// WithQueueSize sets how many messages each subscriber's queue holds
// (default 1024). Values below 2 are raised to 2: a queue needs room for a
// Lagged notice and the event after it.
func WithQueueSize(n int) Option {
	return func(c *config) { c.queue = max(n, 2) }
}

// WithWindowSize sets how many recent events the bus keeps for resuming
// subscribers (default 4096). 0 turns resuming off; negative values count
// as 0.
func WithWindowSize(n int) Option {
	return func(c *config) { c.window = max(n, 0) }
}

// WithMaxSubscribers limits the number of live subscriptions, backend
// listeners included (default DefaultMaxSubscribers(), sized to the
// machine's memory). Values below 1 are raised to 1.
// Subscribing beyond the limit fails with code resource_exhausted.
func WithMaxSubscribers(n int) Option {
	return func(c *config) { c.maxSubs = max(n, 1) }
}
