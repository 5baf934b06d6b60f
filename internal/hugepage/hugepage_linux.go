package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func advise(p unsafe.Pointer, n uintptr) {
	// An error (huge pages compiled out, an old kernel) leaves the
	// memory as it was: advice, not a requirement.
	_ = unix.Madvise(unsafe.Slice((*byte)(p), n), unix.MADV_HUGEPAGE)
}
