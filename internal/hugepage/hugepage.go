// Package hugepage asks the kernel to back large arrays with transparent
// huge pages.
//
// A fresh page costs a fault on first touch. On the two-core virtual
// machines capsengine is measured on, touching 1 GiB of fresh memory took
// 3.1–3.7 s with 4 KiB pages and 0.80–0.95 s with 2 MiB ones, and the JID
// index's resizes took 1.9–2.2 s of CPU in a million-JID cold pass without
// the advice, 0.63–0.94 s with it (bench/README.md, eleventh and twelfth
// sessions). Go's runtime does not ask for huge pages for its heap, and
// the kernel's usual mode ("madvise") grants them only to memory that
// asks.
package hugepage

import "unsafe"

// Size is the huge page size asked for (x86-64's and arm64's usual).
const Size = 2 << 20

// Min is the smallest array Advise bothers with: smaller ones may hold no
// whole aligned huge page, and live among other objects.
const Min = 2 * Size

// Advise asks for huge pages under the whole aligned huge pages inside
// s's backing array, when it spans at least Min bytes; call it before the
// array is first written. It is only advice: where the kernel has huge
// pages off, or cannot find one, nothing changes.
func Advise[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	p := unsafe.Pointer(unsafe.SliceData(s))
	if off, n := interior(uintptr(p), uintptr(cap(s))*unsafe.Sizeof(zero)); n > 0 {
		advise(unsafe.Add(p, off), n)
	}
}

// interior is the run of whole aligned huge pages inside n bytes at
// address p, as an offset from p and a length; 0 bytes when n < Min.
func interior(p, n uintptr) (off, length uintptr) {
	if n < Min {
		return 0, 0
	}
	start := (p + Size - 1) &^ (Size - 1)
	end := (p + n) &^ (Size - 1)
	if end <= start {
		return 0, 0
	}
	return start - p, end - start
}
