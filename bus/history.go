package bus

import "context"

// History is the log a bus made with WithHistory is a copy of. It must be
// safe for concurrent use.
type History interface {
	// Read returns a cursor over the events with ids in (after, upto] that
	// match f (its names and label, as a subscription matches them), in id
	// order. If the log no longer holds some of them, the cursor's first
	// message is a Lagged notice saying so (Dropped: how many ids are gone,
	// an upper bound of the matching events missed; ResumeAfter: after).
	Read(ctx context.Context, f Filter, after, upto uint64) (Cursor, error)
}

// Cursor reads held events from a History. A subscription reads it from
// one goroutine; Close may be called from another, while Next runs.
type Cursor interface {
	// Next returns the next messages, at least one, waiting as needed, or
	// io.EOF once every message was returned. Any other error ends the
	// subscription reading it.
	Next(ctx context.Context) ([]Message, error)
	// Close releases the cursor. It is idempotent.
	Close()
}
