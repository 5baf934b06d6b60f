package hugepage

import "testing"

// The advice covers whole aligned huge pages inside the array and never a
// byte outside it; arrays under Min get none, as do nil and empty ones.
func TestInterior(t *testing.T) {
	for _, c := range []struct {
		p, n, off, length uintptr
	}{
		{p: 0, n: Min, off: 0, length: Min},                                  // aligned: all of it
		{p: Size, n: Min + 100, off: 0, length: Min},                         // the tail's part page left out
		{p: 4096, n: Min, off: Size - 4096, length: Size},                    // the head's part page left out
		{p: 4096, n: Min + Size, off: Size - 4096, length: 2 * Size},         // both ends cut
		{p: 4096, n: Min - 1, off: 0, length: 0},                             // under Min
		{p: Size - 1, n: Min, off: 1, length: Size},                          // one byte short of aligned
		{p: 3 * Size, n: 10 * Size, off: 0, length: 10 * Size},               // large, aligned
		{p: 3*Size + 8192, n: 10 * Size, off: Size - 8192, length: 9 * Size}, // large, unaligned
	} {
		off, length := interior(c.p, c.n)
		if off != c.off || length != c.length {
			t.Errorf("interior(%#x, %#x) = %#x, %#x; want %#x, %#x", c.p, c.n, off, length, c.off, c.length)
		}
		if length > 0 && ((c.p+off)%Size != 0 || length%Size != 0 || off+length > c.n) {
			t.Errorf("interior(%#x, %#x): [%#x, +%#x) is not whole huge pages inside the array", c.p, c.n, off, length)
		}
	}
	Advise([]byte(nil))
	Advise(make([]byte, 0, 16))
}
