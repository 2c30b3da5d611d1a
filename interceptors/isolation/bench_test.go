package isolation_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

const mib = 1 << 20

// BenchmarkSealOpen1MiB seals and opens an invoke whose raw args are 1 MiB:
// serialize, encrypt, decrypt, parse, replay check.
func BenchmarkSealOpen1MiB(b *testing.B) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	data := make([]byte, mib)
	_, _ = rand.Read(data)
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		req := &tetherv1.InvokeRequest{Command: "upload", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: data}}}
		if err := sealer.Seal(tether.KindInvoke, "main", req); err != nil {
			b.Fatal(err)
		}
		if err := opener.Open(tether.KindInvoke, "main", req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawAESGCM1MiB is the floor: AES-256-GCM seal and open of 1 MiB.
func BenchmarkRawAESGCM1MiB(b *testing.B) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	data := make([]byte, mib)
	nonce := make([]byte, 12)
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = rand.Read(nonce)
		ct := aead.Seal(nil, nonce, data, []byte("ad"))
		if _, err := aead.Open(nil, nonce, ct, []byte("ad")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStage1KiB runs a 1 KiB invoke through a stage with a Policy hook
// (hooks + seal), and the same without hooks, to show the hook overhead.
func BenchmarkStage1KiB(b *testing.B) {
	key, _ := isolation.NewKey()
	args, _ := json.Marshal(map[string]string{"path": "docs/readme.md", "text": strings.Repeat("x", 960)})
	policy, _ := (&isolation.Policy{Commands: []string{"save"}, BlockedPaths: []string{"/etc", ".."}}).Hook()
	for _, bc := range []struct {
		name  string
		hooks []isolation.Hook
	}{{"seal-only", nil}, {"policy+seal", []isolation.Hook{policy}}} {
		b.Run(bc.name, func(b *testing.B) {
			stage, _ := isolation.NewStage(key, bc.hooks...)
			base := &tetherv1.InvokeRequest{Command: "save", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: args}}}
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				req := proto.Clone(base)
				if err := stage.Process(context.Background(), tether.KindInvoke, req, isolation.Client{Label: "main"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
