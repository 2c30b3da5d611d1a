// Package client calls a Tether core from Go: Invoke by name with JSON-able
// values or proto messages, generated typed clients on the same connection,
// and (see events.go) events and channels.
//
// Errors come back as *tether.Error with the code, message and details the
// command returned:
//
//	var e *tether.Error
//	if errors.As(err, &e) && e.Code() == tether.CodeNotFound { … }
package client
