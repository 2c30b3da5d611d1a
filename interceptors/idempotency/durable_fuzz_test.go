package idempotency

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDurableLog loads arbitrary logs (a crash can tear the last line; a
// disk can corrupt any): loading never panics, holds at most the bound,
// and the compacted log it would write loads again to the same keys.
func FuzzDurableLog(f *testing.F) {
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	f.Add([]byte(`{"t":"b","k":"main\u0000run\u0000k","h":"x","at":` + now + "}\n"))
	f.Add([]byte(`{"t":"d","k":"a","h":"x","at":` + now + `,"r":{"k":"proto","t":"google.protobuf.StringValue","d":"CgJoaQ=="}}` + "\n" +
		`{"t":"d","k":"b","h":"y","at":` + now + `,"r":{"k":"json","d":"InMi"},"e":{"code":"not_found","message":"m","details":{"x":1}}}` + "\n" +
		`{"t":"f","k":"a"}` + "\n" + `{"t":"d","k":"c","at":1`))
	f.Add([]byte(`{"t":"d","k":"p","at":` + now + `,"r":{"k":"proto","t":"no.Such","d":"AA=="}}` + "\n"))
	f.Add([]byte(`{"t":"d","k":"r","at":` + now + `,"r":{"k":"raw","d":"AAE="}}` + "\n\n{}\n[]\nnull\n"))
	// A result longer than the bound kept now (64 bytes in the fuzz
	// cache): its key ran, so it loads as "not kept", not as unknown.
	f.Add([]byte(`{"t":"d","k":"long","h":"x","at":` + now + `,"r":{"k":"raw","d":"` + strings.Repeat("QUFB", 400) + `"}}` + "\n"))
	f.Fuzz(func(t *testing.T, log []byte) {
		at := time.Now()
		c := New(WithMaxEntries(8), WithMaxResponseBytes(64), WithMaxBytes(4096))
		if err := loadLog(c, bytes.NewReader(log), at); err != nil {
			t.Fatal(err) // a bytes.Reader never fails
		}
		lines := c.snapshot()
		if c.Len() > 8 || len(lines) != c.Len() || c.done.Len() != c.Len() || c.Bytes() > 4096 {
			t.Fatalf("%d keys, %d records, %d in expiry order, %d bytes; bounds 8 and 4096", c.Len(), len(lines), c.done.Len(), c.Bytes())
		}
		prev := time.Time{}
		for f := c.done.Front(); f != nil; f = f.Next() {
			if e := f.Value.(*entry); e.expires.Before(prev) {
				t.Fatal("kept results out of expiry order")
			} else {
				prev = e.expires
			}
		}
		again := bytes.Join(lines, nil)
		c2 := New(WithMaxEntries(8), WithMaxResponseBytes(64), WithMaxBytes(4096))
		if err := loadLog(c2, bytes.NewReader(again), at); err != nil || c2.Len() != c.Len() {
			t.Fatalf("compacted log loads %d keys (%v), first load %d", c2.Len(), err, c.Len())
		}
		for k, e := range c.entries {
			if c2.entries[k] == nil || c2.entries[k].hash != e.hash {
				t.Fatalf("key %q changed on reload", k)
			}
		}
	})
}
