package idempotency

import "testing"

// FuzzKVRecord decodes values of the shared bucket, which any process with
// access to it can write: decoding never panics, and a record it accepts has
// a state and a digest, and a result that decodes or fails cleanly.
func FuzzKVRecord(f *testing.F) {
	f.Add([]byte(`{"s":"r","h":"abc","by":"x"}`))
	f.Add([]byte(`{"s":"d","h":"abc","r":{"k":"raw","d":"AAE="}}`))
	f.Add([]byte(`{"s":"d","h":"abc","r":{"k":"proto","t":"google.protobuf.StringValue","d":"CgJoaQ=="},"e":{"code":"not_found","message":"m"}}`))
	f.Add([]byte(`{"s":"d","h":"abc","r":{"k":"proto","t":"no.Such","d":"AA=="}}`))
	f.Add([]byte(`{"s":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeKV(b)
		if err != nil {
			return
		}
		if rec.S != "r" && rec.S != "d" || rec.H == "" {
			t.Fatalf("accepted %+v", rec)
		}
		_, _ = decodeResp(rec.R)
	})
}
