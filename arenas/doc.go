// Package arenas, imported for its side effect, allows the C library
// two malloc arenas instead of glibc's default of up to 8 per core:
//
//	import _ "github.com/capsengine/capsengine/arenas"
//
// The engine's store (pebble) allocates its memtables and block cache
// with malloc when the program is built with cgo, and glibc keeps what is
// freed in each arena: over a 5m30s soak (capsengine bench --soak) the
// RSS outside Go's own memory grew from 128 to 220 MiB in memtable-sized
// steps with the default, and stayed at 128 MiB with two arenas. The
// capsengine binary imports it; a program that embeds the engine should
// too, or set MALLOC_ARENA_MAX=2 in its environment.
//
// The limit is set when the program is loaded, before the Go runtime
// starts its threads: glibc fixes the number of arenas the first time a
// thread finds one busy, so a call from Go code would come too late. An
// operator's MALLOC_ARENA_MAX, which glibc reads itself, wins. Without cgo,
// or with a C library other than glibc, the package does nothing.
package arenas
