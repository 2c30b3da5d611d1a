package idempotency

import (
	"bytes"
	"encoding/json"
	"strconv"
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
	f.Fuzz(func(t *testing.T, log []byte) {
		at := time.Now()
		c := New(WithMaxEntries(8))
		recs, err := loadLog(c, bytes.NewReader(log), at)
		if err != nil {
			t.Fatal(err) // a bytes.Reader never fails
		}
		if c.Len() > 8 || len(recs) != c.Len() || c.done.Len() != c.Len() {
			t.Fatalf("%d keys, %d records, %d in expiry order; bound 8", c.Len(), len(recs), c.done.Len())
		}
		var again bytes.Buffer
		for _, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			again.Write(append(b, '\n'))
		}
		c2 := New(WithMaxEntries(8))
		if _, err := loadLog(c2, &again, at); err != nil || c2.Len() != c.Len() {
			t.Fatalf("compacted log loads %d keys (%v), first load %d", c2.Len(), err, c.Len())
		}
		for k, e := range c.entries {
			if c2.entries[k] == nil || c2.entries[k].hash != e.hash {
				t.Fatalf("key %q changed on reload", k)
			}
		}
	})
}
