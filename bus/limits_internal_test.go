package bus

import "testing"

func TestSubscribersFor(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{0, 4096},          // unknown
		{128 << 20, 4096},  // small machine: the floor
		{8 << 30, 131072},  // 8 GiB / 64 KiB
		{1 << 50, 1 << 22}, // the ceiling
		{(8 << 30) + 100, 131072},
	} {
		if got := subscribersFor(c.limit); got != c.want {
			t.Errorf("subscribersFor(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}
