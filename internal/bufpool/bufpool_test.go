package bufpool

import "testing"

func TestPool(t *testing.T) {
	p := New(10, 20)
	for _, n := range []int{0, 1, 1023, 1024, 1025, 70000, 1 << 20, 1<<20 + 1} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n || n > 0 && n <= 1<<20 && cap(*b) >= 2*max(n, 1024) {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		p.Put(b)
	}
	odd := make([]byte, 3000)
	p.Put(&odd) // not a class size: dropped, not handed out later
	for range 10 {
		if b := p.Get(2048); cap(*b) != 2048 {
			t.Fatalf("Get(2048) after a foreign Put: cap %d", cap(*b))
		}
	}
}
