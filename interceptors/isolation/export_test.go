package isolation

import (
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// AcceptForTest runs the replay check of o alone.
func AcceptForTest(o *Opener, session string, seq uint64) Reason { return o.accept(session, seq) }

// OpenWithKeyForTest opens a ciphertext with key's AEAD directly.
func OpenWithKeyForTest(key *Key, nonce, ct, ad []byte) ([]byte, error) {
	aead, _ := key.aead()
	return aead.Open(nil, nonce, ct, ad)
}

// DecodeOpenedForTest is the core's decoder of opened plaintexts.
func DecodeOpenedForTest(plain []byte, dst proto.Message, name string) error {
	return decodeOpened(plain, dst, name)
}

// DecodeFastForTest reports whether plain takes the decoder's fast path.
func DecodeFastForTest(plain []byte, dst proto.Message) bool {
	switch m := dst.(type) {
	case *tetherv1.InvokeRequest:
		return decodeInvoke(plain, m, "")
	case *tetherv1.EmitRequest:
		return decodeEmit(plain, m, "")
	}
	return false
}
