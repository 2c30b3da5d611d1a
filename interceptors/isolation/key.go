package isolation

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/tether-ipc/tether"
)

// KeySize is the size of an isolation key in bytes (AES-256).
const KeySize = 32

const redacted = "[redacted]"

// errKeyNotPrintable is returned by every encoder a Key refuses.
var errKeyNotPrintable = errors.New("isolation: a Key is never encoded")

// Key is the AES-256-GCM key shared by the core (Opener) and the isolation
// stage (Sealer). Make a new one at every launch with NewKey; hand it to the
// isolation stage in-process, or over a pipe with WriteTo and ReadKey — never
// through argv, the environment, disk or logs.
//
// A Key never prints or encodes its bytes: fmt verbs, slog, JSON, text and gob
// all give "[redacted]" or an error. A Key is immutable and safe for
// concurrent use. The zero Key is invalid; use NewKey or ReadKey.
type Key struct {
	k *keyBytes
}

type keyBytes struct {
	b    [KeySize]byte
	aead cipher.AEAD
}

// NewKey returns a fresh random key from crypto/rand.
func NewKey() (*Key, error) {
	var b [KeySize]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "isolation: reading random key: %w", err)
	}
	return newKey(b)
}

// ReadKey reads a key of exactly KeySize bytes from r, as written by WriteTo,
// e.g. from a pipe to a process the core started.
func ReadKey(r io.Reader) (*Key, error) {
	var b [KeySize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: short key")
	}
	return newKey(b)
}

func newKey(b [KeySize]byte) (*Key, error) {
	block, err := aes.NewCipher(b[:])
	if err != nil {
		return nil, tether.NewError(tether.CodeInternal, "isolation: cannot build AES cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, tether.NewError(tether.CodeInternal, "isolation: cannot build GCM")
	}
	return &Key{k: &keyBytes{b: b, aead: aead}}, nil
}

// WriteTo writes the key's raw bytes to w. It is meant for a pipe to a
// process the core itself started, and nothing else.
func (k *Key) WriteTo(w io.Writer) (int64, error) {
	if k == nil || k.k == nil {
		return 0, tether.NewError(tether.CodeInvalidArgument, "isolation: invalid key")
	}
	n, err := w.Write(k.k.b[:])
	return int64(n), err
}

func (k *Key) aead() (cipher.AEAD, bool) {
	if k == nil || k.k == nil {
		return nil, false
	}
	return k.k.aead, true
}

// String returns "[redacted]".
func (Key) String() string { return redacted }

// GoString returns "[redacted]".
func (Key) GoString() string { return redacted }

// Format writes "[redacted]" for every verb, so %x, %v, %+v and %#v show no
// key bytes.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "[redacted]".
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON refuses: a key is never encoded.
func (Key) MarshalJSON() ([]byte, error) { return nil, errKeyNotPrintable }

// MarshalText refuses: a key is never encoded.
func (Key) MarshalText() ([]byte, error) { return nil, errKeyNotPrintable }

// MarshalBinary refuses: a key is never encoded.
func (Key) MarshalBinary() ([]byte, error) { return nil, errKeyNotPrintable }

// GobEncode refuses: a key is never encoded.
func (Key) GobEncode() ([]byte, error) { return nil, errKeyNotPrintable }
