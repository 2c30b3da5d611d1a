package server

import (
	"context"
	"math"
	"testing"
)

type closeCount struct{ n *int }

func (c closeCount) Close() error { *c.n++; return nil }

// Once the ids wrap, Add skips 0 and the ids still held: the resource that
// holds an id keeps it, and is closed at shutdown.
func TestResourceIDsWrapPastHeldOnes(t *testing.T) {
	srv := New()
	tab := srv.Resources()
	var closed int
	ctx := context.Background()
	first, err := tab.Add(ctx, closeCount{&closed}) // id 1
	if err != nil || first != 1 {
		t.Fatalf("first Add: %d %v", first, err)
	}
	tab.mu.Lock()
	tab.next = math.MaxUint32 - 1
	tab.mu.Unlock()
	var ids []uint32
	for range 2 {
		id, err := tab.Add(ctx, closeCount{&closed})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != math.MaxUint32 || ids[1] != 2 {
		t.Fatalf("ids after the wrap: %v, want [%d 2] (0 and the held 1 skipped)", ids, uint32(math.MaxUint32))
	}
	srv.Stop()
	if closed != 3 {
		t.Fatalf("%d resources closed at shutdown, want 3", closed)
	}
}
