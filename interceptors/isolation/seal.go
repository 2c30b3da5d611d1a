package isolation

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

const (
	// NonceSize is the size of a GCM nonce in bytes.
	NonceSize = 12
	// ReplayWindow is how many sequence numbers behind the newest one an
	// Opener still accepts (once each) for a session; older ones are stale.
	ReplayWindow = 1024
	// DefaultMaxSessions is how many sessions an Opener tracks by default.
	DefaultMaxSessions = 4096
	// maxSessionLen bounds the session id an Opener accepts.
	maxSessionLen = 128
	// adDomain starts every additional data, so that no other use of the key
	// could ever produce a valid Tether seal.
	adDomain = "tether-isolation-v1"
)

// AdditionalData returns the AEAD additional data for a sealed message: the
// domain string "tether-isolation-v1", then the kind as one byte, the number
// of names as a 4-byte big-endian count, each name, the client label and the
// session as a 4-byte big-endian length followed by the bytes, and seq as 8
// bytes big-endian. Every field has a fixed size or a length prefix, so two
// different tuples never encode the same.
func AdditionalData(kind tether.Kind, names []string, label, session string, seq uint64) []byte {
	n := len(adDomain) + 1 + 4 + 4 + len(label) + 4 + len(session) + 8
	for _, name := range names {
		n += 4 + len(name)
	}
	b := make([]byte, 0, n)
	b = append(b, adDomain...)
	b = append(b, byte(kind))
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		b = appendString(b, name)
	}
	b = appendString(b, label)
	b = appendString(b, session)
	return binary.BigEndian.AppendUint64(b, seq)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// envelope gives uniform access to the three sealable requests.
type envelope struct {
	msg   proto.Message
	names func() []string
	get   func() *tetherv1.Sealed
	set   func(*tetherv1.Sealed)
	route func() // resets the message to its routing field only
	fresh func() proto.Message
}

func envelopeOf(kind tether.Kind, msg proto.Message) (envelope, bool) {
	switch m := msg.(type) {
	case *tetherv1.InvokeRequest:
		if m == nil || (kind != tether.KindInvoke && kind != tether.KindChannel) {
			return envelope{}, false
		}
		return envelope{
			msg:   m,
			names: func() []string { return []string{m.GetCommand()} },
			get:   m.GetSealed,
			set:   func(s *tetherv1.Sealed) { m.Sealed = s },
			route: func() { c := m.GetCommand(); proto.Reset(m); m.Command = c },
			fresh: func() proto.Message { return new(tetherv1.InvokeRequest) },
		}, true
	case *tetherv1.EmitRequest:
		if m == nil || kind != tether.KindEmit {
			return envelope{}, false
		}
		return envelope{
			msg:   m,
			names: func() []string { return []string{m.GetEvent()} },
			get:   m.GetSealed,
			set:   func(s *tetherv1.Sealed) { m.Sealed = s },
			route: func() { e := m.GetEvent(); proto.Reset(m); m.Event = e },
			fresh: func() proto.Message { return new(tetherv1.EmitRequest) },
		}, true
	case *tetherv1.ListenRequest:
		if m == nil || kind != tether.KindListen {
			return envelope{}, false
		}
		return envelope{
			msg:   m,
			names: func() []string { return slices.Clone(m.GetEvents()) },
			get:   m.GetSealed,
			set:   func(s *tetherv1.Sealed) { m.Sealed = s },
			route: func() { e := m.GetEvents(); proto.Reset(m); m.Events = e },
			fresh: func() proto.Message { return new(tetherv1.ListenRequest) },
		}, true
	}
	return envelope{}, false
}

// Sealer seals requests for one isolation stage: it has its own random
// session id and a sequence counter. It is safe for concurrent use.
type Sealer struct {
	key     *Key
	session string
	seq     atomic.Uint64
}

// NewSealer returns a sealer with a fresh random session id.
func NewSealer(key *Key) (*Sealer, error) {
	if _, ok := key.aead(); !ok {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: invalid key")
	}
	var id [16]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "isolation: reading session id: %w", err)
	}
	return &Sealer{key: key, session: hex.EncodeToString(id[:])}, nil
}

// Session returns the sealer's session id.
func (s *Sealer) Session() string { return s.session }

// Seal seals msg in place: an *InvokeRequest (kind invoke or channel), an
// *EmitRequest (emit) or a *ListenRequest (listen). The plaintext is the
// deterministic serialization of the whole request; afterwards msg holds only
// its routing field (command, event or events) in clear and sealed. label is
// the client label the core will see in the tether-client-label metadata.
func (s *Sealer) Seal(kind tether.Kind, label string, msg proto.Message) error {
	env, ok := envelopeOf(kind, msg)
	if !ok {
		return tether.Errorf(tether.CodeInvalidArgument, "isolation: cannot seal %T as %s", msg, kind)
	}
	if env.get() != nil {
		return tether.NewError(tether.CodeInvalidArgument, "isolation: request is already sealed")
	}
	// One buffer with room for the tag: the plaintext is encrypted in place.
	opts := proto.MarshalOptions{Deterministic: true}
	plain, err := opts.MarshalAppend(make([]byte, 0, opts.Size(msg)+16), msg)
	if err != nil {
		return tether.Errorf(tether.CodeInternal, "isolation: encoding request: %w", err)
	}
	nonce := make([]byte, NonceSize)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return tether.Errorf(tether.CodeInternal, "isolation: reading nonce: %w", err)
	}
	seq := s.seq.Add(1)
	aead, _ := s.key.aead()
	ad := AdditionalData(kind, env.names(), label, s.session, seq)
	ct := aead.Seal(plain[:0], nonce, plain, ad)
	env.route()
	env.set(&tetherv1.Sealed{Session: s.session, Seq: seq, Nonce: nonce, Ciphertext: ct})
	return nil
}

// Opener opens and verifies sealed requests in the core, and refuses each
// (session, seq) after its first acceptance. It is safe for concurrent use;
// requests of one session may arrive in any order within ReplayWindow.
type Opener struct {
	key         *Key
	maxSessions int

	mu       sync.Mutex
	sessions map[string]*window
}

// OpenerOption configures an Opener.
type OpenerOption func(*Opener)

// WithMaxSessions bounds the number of sessions the Opener tracks (default
// DefaultMaxSessions). Sessions are never forgotten, since forgetting one
// would allow its messages to be replayed; a new session beyond the bound is
// refused with ReasonSessions. Each session costs under 200 bytes.
func WithMaxSessions(n int) OpenerOption {
	return func(o *Opener) { o.maxSessions = n }
}

// NewOpener returns an opener for key.
func NewOpener(key *Key, opts ...OpenerOption) (*Opener, error) {
	if _, ok := key.aead(); !ok {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: invalid key")
	}
	o := &Opener{key: key, maxSessions: DefaultMaxSessions, sessions: map[string]*window{}}
	for _, opt := range opts {
		opt(o)
	}
	if o.maxSessions < 1 {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: max sessions must be at least 1")
	}
	return o, nil
}

// Open verifies the sealed body of msg against kind, its routing names in
// clear and label, checks the replay window, and replaces msg's content with
// the opened request. On failure msg is left as it was and the error is a
// *tether.Error whose reason ReasonOf reports. Open never panics on input.
func (o *Opener) Open(kind tether.Kind, label string, msg proto.Message) error {
	inner, err := o.open(kind, label, msg)
	if err != nil {
		return err
	}
	proto.Reset(msg)
	proto.Merge(msg, inner)
	return nil
}

// open verifies msg and returns the opened request as a new message.
func (o *Opener) open(kind tether.Kind, label string, msg proto.Message) (proto.Message, error) {
	env, ok := envelopeOf(kind, msg)
	if !ok {
		return nil, refuse(ReasonMalformed, "unexpected request type for "+kind.String())
	}
	s := env.get()
	switch {
	case s == nil:
		return nil, refuse(ReasonUnsealed, "request is not sealed")
	case len(s.GetCiphertext()) == 0:
		return nil, refuse(ReasonEmpty, "sealed body is empty")
	case len(s.GetNonce()) != NonceSize:
		return nil, refuse(ReasonMalformed, "nonce must be 12 bytes")
	case s.GetSession() == "" || len(s.GetSession()) > maxSessionLen:
		return nil, refuse(ReasonMalformed, "bad session id")
	case s.GetSeq() == 0:
		return nil, refuse(ReasonMalformed, "seq must be positive")
	}
	names := env.names()
	aead, _ := o.key.aead()
	ad := AdditionalData(kind, names, label, s.GetSession(), s.GetSeq())
	plain, err := aead.Open(nil, s.GetNonce(), s.GetCiphertext(), ad)
	if err != nil {
		return nil, refuse(ReasonVerify, "sealed body does not verify for this "+kind.String()+", name and client label")
	}
	inner := env.fresh()
	if err := proto.Unmarshal(plain, inner); err != nil {
		return nil, refuse(ReasonMalformed, "sealed request does not decode")
	}
	innerEnv, _ := envelopeOf(kind, inner)
	if innerEnv.get() != nil {
		return nil, refuse(ReasonMalformed, "sealed request is itself sealed")
	}
	if !slices.Equal(innerEnv.names(), names) {
		return nil, refuse(ReasonMismatch, "sealed request names another command or event")
	}
	if r := o.accept(s.GetSession(), s.GetSeq()); r != "" {
		switch r {
		case ReasonReplay:
			return nil, refuse(r, "seq already used in this session")
		case ReasonStale:
			return nil, refuse(r, "seq is older than the replay window")
		default:
			return nil, refuse(r, "opener tracks too many sessions")
		}
	}
	return inner, nil
}

func (o *Opener) accept(session string, seq uint64) Reason {
	o.mu.Lock()
	w, ok := o.sessions[session]
	if !ok {
		if len(o.sessions) >= o.maxSessions {
			o.mu.Unlock()
			return ReasonSessions
		}
		w = new(window)
		o.sessions[session] = w
	}
	o.mu.Unlock()
	return w.accept(seq)
}

// window is a sliding replay bitmap in a ring of 64-bit blocks, as in
// WireGuard's replay filter (RFC 6479).
type window struct {
	mu   sync.Mutex
	last uint64
	ring [ringBlocks]uint64
}

const ringBlocks = ReplayWindow/64 + 1

func (w *window) accept(seq uint64) Reason {
	w.mu.Lock()
	defer w.mu.Unlock()
	block := seq >> 6
	if seq > w.last {
		current := w.last >> 6
		diff := block - current
		if diff > ringBlocks {
			diff = ringBlocks
		}
		for i := current + 1; i <= current+diff; i++ {
			w.ring[i%ringBlocks] = 0
		}
		w.last = seq
	} else if w.last-seq >= ReplayWindow {
		return ReasonStale
	}
	idx := block % ringBlocks
	bit := uint64(1) << (seq & 63)
	if w.ring[idx]&bit != 0 {
		return ReasonReplay
	}
	w.ring[idx] |= bit
	return ""
}
