package isolation

// AcceptForTest runs the replay check of o alone.
func AcceptForTest(o *Opener, session string, seq uint64) Reason { return o.accept(session, seq) }
