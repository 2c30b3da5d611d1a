// Package bufpool is a byte-buffer pool for grpc-go's mem.BufferPool that,
// unlike grpc-go's default pool, neither zeroes the buffers it hands out nor
// rounds a request up to a coarse tier (its classes are every power of two):
// for buffers their user overwrites completely, such as encoded frames.
package bufpool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

var _ mem.BufferPool = (*Pool)(nil)

// Pool is a grpc mem.BufferPool of power-of-two classes from 1<<minExp to
// 1<<maxExp bytes; larger buffers are not pooled.
type Pool struct {
	minExp  int
	classes []sync.Pool
}

// New returns a pool of classes 1<<minExp to 1<<maxExp bytes.
func New(minExp, maxExp int) *Pool {
	return &Pool{minExp: minExp, classes: make([]sync.Pool, maxExp-minExp+1)}
}

// class returns the index of the smallest class that holds n bytes, or -1.
func (p *Pool) class(n int) int {
	c := max(bits.Len(uint(n-1)), p.minExp) - p.minExp
	if n <= 0 {
		c = 0
	}
	if c >= len(p.classes) {
		return -1
	}
	return c
}

// Get implements mem.BufferPool. The bytes are not zeroed.
func (p *Pool) Get(n int) *[]byte {
	c := p.class(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+p.minExp))
	return &b
}

// Put implements mem.BufferPool.
func (p *Pool) Put(b *[]byte) {
	c := p.class(cap(*b))
	if c < 0 || cap(*b) != 1<<(c+p.minExp) {
		return // not one of ours
	}
	p.classes[c].Put(b)
}
