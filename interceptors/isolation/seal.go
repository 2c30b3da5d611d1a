package isolation

import (
	"crypto/cipher"
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
	n := adSize(label, session)
	for _, name := range names {
		n += 4 + len(name)
	}
	b := appendADHead(make([]byte, 0, n), kind, len(names))
	for _, name := range names {
		b = appendString(b, name)
	}
	return appendADTail(b, label, session, seq)
}

// adSize is the size of the additional data without its names.
func adSize(label, session string) int {
	return len(adDomain) + 1 + 4 + 4 + len(label) + 4 + len(session) + 8
}

func appendADHead(b []byte, kind tether.Kind, names int) []byte {
	b = append(b, adDomain...)
	b = append(b, byte(kind))
	return binary.BigEndian.AppendUint32(b, uint32(names))
}

func appendADTail(b []byte, label, session string, seq uint64) []byte {
	b = appendString(b, label)
	b = appendString(b, session)
	return binary.BigEndian.AppendUint64(b, seq)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// route is what a sealable request carries in clear — its routing names
// and its seal — read without allocating.
type route struct {
	kind   tether.Kind
	name   string   // the command of an invoke or channel, the event of an emit
	events []string // the events of a listen
	sealed *tetherv1.Sealed
}

// routeOf returns the route of msg, an *InvokeRequest (kind invoke or
// channel), an *EmitRequest (emit) or a *ListenRequest (listen).
func routeOf(kind tether.Kind, msg proto.Message) (route, bool) {
	switch m := msg.(type) {
	case *tetherv1.InvokeRequest:
		if m != nil && (kind == tether.KindInvoke || kind == tether.KindChannel) {
			return route{kind: kind, name: m.GetCommand(), sealed: m.GetSealed()}, true
		}
	case *tetherv1.EmitRequest:
		if m != nil && kind == tether.KindEmit {
			return route{kind: kind, name: m.GetEvent(), sealed: m.GetSealed()}, true
		}
	case *tetherv1.ListenRequest:
		if m != nil && kind == tether.KindListen {
			return route{kind: kind, events: m.GetEvents(), sealed: m.GetSealed()}, true
		}
	}
	return route{}, false
}

// sameNames reports whether r and o name the same command or events.
func (r route) sameNames(o route) bool {
	if r.kind == tether.KindListen {
		return slices.Equal(r.events, o.events)
	}
	return r.name == o.name
}

// adSize is the size of r's additional data for label and session.
func (r route) adSize(label, session string) int {
	n := adSize(label, session)
	if r.kind != tether.KindListen {
		return n + 4 + len(r.name)
	}
	for _, e := range r.events {
		n += 4 + len(e)
	}
	return n
}

// appendAD appends r's additional data to b: the same bytes as
// AdditionalData with r's names.
func (r route) appendAD(b []byte, label, session string, seq uint64) []byte {
	if r.kind != tether.KindListen {
		b = appendString(appendADHead(b, r.kind, 1), r.name)
	} else {
		b = appendADHead(b, r.kind, len(r.events))
		for _, e := range r.events {
			b = appendString(b, e)
		}
	}
	return appendADTail(b, label, session, seq)
}

// sealedInvoke, sealedEmit and sealedListen hold a routing-only request and
// its seal in one allocation.
type (
	sealedInvoke struct {
		req    tetherv1.InvokeRequest
		sealed tetherv1.Sealed
	}
	sealedEmit struct {
		req    tetherv1.EmitRequest
		sealed tetherv1.Sealed
	}
	sealedListen struct {
		req    tetherv1.ListenRequest
		sealed tetherv1.Sealed
	}
)

// envelope returns a request that holds only r's names in clear, and its
// empty seal, which the caller fills in: sb's for an invoke or emit when sb
// is not nil, else a new one.
func (r route) envelope(sb *sealBuf) (proto.Message, *tetherv1.Sealed) {
	switch r.kind {
	case tether.KindEmit:
		var e *sealedEmit
		if sb != nil {
			e = &sb.emit
			e.req.Reset()
			e.sealed.Reset()
		} else {
			e = new(sealedEmit)
		}
		e.req.Event, e.req.Sealed = r.name, &e.sealed
		return &e.req, &e.sealed
	case tether.KindListen:
		e := new(sealedListen)
		e.req.Events, e.req.Sealed = r.events, &e.sealed
		return &e.req, &e.sealed
	}
	var e *sealedInvoke
	if sb != nil {
		e = &sb.invoke
		e.req.Reset()
		e.sealed.Reset()
	} else {
		e = new(sealedInvoke)
	}
	e.req.Command, e.req.Sealed = r.name, &e.sealed
	return &e.req, &e.sealed
}

// reduce resets msg, whose route is r, to its routing names and sealed.
func (r route) reduce(msg proto.Message, sealed *tetherv1.Sealed) {
	proto.Reset(msg)
	switch m := msg.(type) {
	case *tetherv1.InvokeRequest:
		m.Command, m.Sealed = r.name, sealed
	case *tetherv1.EmitRequest:
		m.Event, m.Sealed = r.name, sealed
	case *tetherv1.ListenRequest:
		m.Events, m.Sealed = r.events, sealed
	}
}

// Sealer seals requests for one isolation stage: it has its own random
// session id and a sequence counter. It is safe for concurrent use.
type Sealer struct {
	aead    cipher.AEAD
	session string
	seq     atomic.Uint64
	nonces  nonceSource
}

// nonceBatch is how many nonces a Sealer reads from crypto/rand at once.
const nonceBatch = 64

// nonceSource hands out random nonces read from crypto/rand in batches, so
// that a seal costs no getrandom call; each nonce is handed out once.
type nonceSource struct {
	mu   sync.Mutex
	left []byte // the nonces of buf not handed out yet
	buf  [nonceBatch * NonceSize]byte
}

func (n *nonceSource) read(dst []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.left) < NonceSize {
		n.left = nil
		if _, err := io.ReadFull(rand.Reader, n.buf[:]); err != nil {
			return err
		}
		n.left = n.buf[:]
	}
	copy(dst, n.left[:NonceSize])
	n.left = n.left[NonceSize:]
	return nil
}

// NewSealer returns a sealer with a fresh random session id.
func NewSealer(key *Key) (*Sealer, error) {
	aead, ok := key.aead()
	if !ok {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: invalid key")
	}
	var id [16]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "isolation: reading session id: %w", err)
	}
	return &Sealer{aead: aead, session: hex.EncodeToString(id[:])}, nil
}

// Session returns the sealer's session id.
func (s *Sealer) Session() string { return s.session }

// Seal seals msg in place: an *InvokeRequest (kind invoke or channel), an
// *EmitRequest (emit) or a *ListenRequest (listen). The plaintext is the
// deterministic serialization of the whole request; afterwards msg holds only
// its routing field (command, event or events) in clear and sealed. label is
// the client label the core will see in the tether-client-label metadata.
func (s *Sealer) Seal(kind tether.Kind, label string, msg proto.Message) error {
	r, err := sealable(kind, msg)
	if err != nil {
		return err
	}
	sealed := new(tetherv1.Sealed)
	if err := s.seal(r, label, msg, sealed, nil); err != nil {
		return err
	}
	r.reduce(msg, sealed)
	return nil
}

// sealCopy returns a new request that carries msg sealed, as Seal would
// leave msg, and leaves msg as it is. With a non-nil sb, the sealed bytes
// live in sb's buffer: the request must not be used once sb is reused.
func (s *Sealer) sealCopy(kind tether.Kind, label string, msg proto.Message, sb *sealBuf) (proto.Message, error) {
	r, err := sealable(kind, msg)
	if err != nil {
		return nil, err
	}
	out, sealed := r.envelope(sb)
	if err := s.seal(r, label, msg, sealed, sb); err != nil {
		return nil, err
	}
	return out, nil
}

// maxPooledSeal is the largest seal buffer kept for reuse. Only small
// sealed requests reuse buffers: a codec that sends large byte fields
// without copying them (as Tether's own does from 256 KiB) could still be
// writing them after the call returns, so such requests always get buffers
// of their own.
const maxPooledSeal = 64 << 10

// sealBuf is what a unary call through the stage borrows from sealBufs for
// its length (see UnaryClientInterceptor): the request it sends and the
// buffer of its seal.
type sealBuf struct {
	b      []byte
	invoke sealedInvoke
	emit   sealedEmit
}

var sealBufs = sync.Pool{New: func() any { return new(sealBuf) }}

// buffer returns n bytes of sb's buffer, growing it as needed; a nil sb
// gives a new buffer.
func (sb *sealBuf) buffer(n int) []byte {
	if sb == nil {
		return make([]byte, n)
	}
	if cap(sb.b) < n {
		b := make([]byte, n)
		if n > maxPooledSeal {
			return b
		}
		sb.b = b
	}
	return sb.b[:n]
}

func sealable(kind tether.Kind, msg proto.Message) (route, error) {
	r, ok := routeOf(kind, msg)
	if !ok {
		return route{}, tether.Errorf(tether.CodeInvalidArgument, "isolation: cannot seal %T as %s", msg, kind)
	}
	if r.sealed != nil {
		return route{}, tether.NewError(tether.CodeInvalidArgument, "isolation: request is already sealed")
	}
	return r, nil
}

// seal fills sealed with msg, whose route is r, sealed under the next seq.
// One buffer (sb's, or a new one if sb is nil) holds the nonce, the
// plaintext — encrypted in place, with room for the tag — and the
// additional data; every byte of it is written here.
func (s *Sealer) seal(r route, label string, msg proto.Message, sealed *tetherv1.Sealed, sb *sealBuf) error {
	opts := proto.MarshalOptions{Deterministic: true, UseCachedSize: true}
	size := opts.Size(msg)
	ctEnd := NonceSize + size + s.aead.Overhead()
	buf := sb.buffer(ctEnd + r.adSize(label, s.session))
	nonce := buf[:NonceSize:NonceSize]
	if err := s.nonces.read(nonce); err != nil {
		return tether.Errorf(tether.CodeInternal, "isolation: reading nonce: %w", err)
	}
	plain, err := opts.MarshalAppend(buf[NonceSize:NonceSize:ctEnd], msg)
	if err != nil {
		return tether.Errorf(tether.CodeInternal, "isolation: encoding request: %w", err)
	}
	seq := s.seq.Add(1)
	ad := r.appendAD(buf[ctEnd:ctEnd], label, s.session, seq)
	sealed.Session, sealed.Seq, sealed.Nonce = s.session, seq, nonce
	sealed.Ciphertext = s.aead.Seal(plain[:0], nonce, plain, ad)
	return nil
}

// Opener opens and verifies sealed requests in the core, and refuses each
// (session, seq) after its first acceptance. It is safe for concurrent use;
// requests of one session may arrive in any order within ReplayWindow.
type Opener struct {
	aead        cipher.AEAD
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
	aead, ok := key.aead()
	if !ok {
		return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: invalid key")
	}
	o := &Opener{aead: aead, maxSessions: DefaultMaxSessions, sessions: map[string]*window{}}
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
	r, ok := routeOf(kind, msg)
	if !ok {
		return refuse(ReasonMalformed, "unexpected request type for "+kind.String())
	}
	inner := msg.ProtoReflect().New().Interface()
	if err := o.open(r, label, inner, false); err != nil {
		return err
	}
	proto.Reset(msg)
	proto.Merge(msg, inner)
	return nil
}

// openInPlace is Open for a request the caller owns and drops on failure:
// the ciphertext is decrypted where it lies and msg is decoded over. On
// failure msg's content is undefined.
func (o *Opener) openInPlace(kind tether.Kind, label string, msg proto.Message) error {
	r, ok := routeOf(kind, msg)
	if !ok {
		return refuse(ReasonMalformed, "unexpected request type for "+kind.String())
	}
	return o.open(r, label, msg, true)
}

// open verifies the seal of a request whose route is r and decodes the
// opened request into dst, which may be that request itself. inPlace
// decrypts over the ciphertext.
func (o *Opener) open(r route, label string, dst proto.Message, inPlace bool) error {
	s := r.sealed
	switch {
	case s == nil:
		return refuse(ReasonUnsealed, "request is not sealed")
	case len(s.GetCiphertext()) == 0:
		return refuse(ReasonEmpty, "sealed body is empty")
	case len(s.GetNonce()) != NonceSize:
		return refuse(ReasonMalformed, "nonce must be 12 bytes")
	case s.GetSession() == "" || len(s.GetSession()) > maxSessionLen:
		return refuse(ReasonMalformed, "bad session id")
	case s.GetSeq() == 0:
		return refuse(ReasonMalformed, "seq must be positive")
	}
	session, seq, ct := s.GetSession(), s.GetSeq(), s.GetCiphertext()
	ad := r.appendAD(make([]byte, 0, r.adSize(label, session)), label, session, seq)
	var out []byte
	if inPlace {
		out = ct[:0]
	}
	plain, err := o.aead.Open(out, s.GetNonce(), ct, ad)
	if err != nil {
		return refuse(ReasonVerify, "sealed body does not verify for this "+r.kind.String()+", name and client label")
	}
	if err := decodeOpened(plain, dst, r.name); err != nil {
		return refuse(ReasonMalformed, "sealed request does not decode")
	}
	in, _ := routeOf(r.kind, dst)
	if in.sealed != nil {
		return refuse(ReasonMalformed, "sealed request is itself sealed")
	}
	if !in.sameNames(r) {
		return refuse(ReasonMismatch, "sealed request names another command or event")
	}
	if rs := o.accept(session, seq); rs != "" {
		switch rs {
		case ReasonReplay:
			return refuse(rs, "seq already used in this session")
		case ReasonStale:
			return refuse(rs, "seq is older than the replay window")
		default:
			return refuse(rs, "opener tracks too many sessions")
		}
	}
	return nil
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
