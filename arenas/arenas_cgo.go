//go:build linux && cgo

package arenas

/*
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Set at load time; see the package documentation. An empty
// MALLOC_ARENA_MAX counts as unset, as glibc reads it.
__attribute__((constructor)) static void capsengine_limit_arenas(void) {
#ifdef M_ARENA_MAX
	const char *set = getenv("MALLOC_ARENA_MAX");
	if (set == NULL || *set == '\0') {
		mallopt(M_ARENA_MAX, 2);
	}
#endif
}

// capsengine_arenas counts the C library's arenas (malloc_info's heaps);
// -1 when it cannot tell.
static int capsengine_arenas(void) {
#ifdef __GLIBC__
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) {
		return -1;
	}
	malloc_info(0, f);
	fclose(f);
	int n = 0;
	for (char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) {
		n++;
	}
	free(buf);
	return n;
#else
	return -1;
#endif
}

// capsengine_churn mallocs and frees n small blocks.
static void capsengine_churn(int n) {
	for (int i = 0; i < n; i++) {
		void *p = malloc(4096 + (i % 7) * 512);
		if (p != NULL) {
			memset(p, 1, 64);
		}
		free(p);
	}
}
*/
import "C"

// mallocArenas is the number of the C library's malloc arenas, -1 when
// it cannot tell (a C library other than glibc).
func mallocArenas() int { return int(C.capsengine_arenas()) }

// churnMalloc mallocs and frees n small blocks in C, on the calling
// thread.
func churnMalloc(n int) { C.capsengine_churn(C.int(n)) }
