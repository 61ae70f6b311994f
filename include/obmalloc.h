/*
 * obmalloc: a small-object allocator in the spirit of CPython's pymalloc,
 * with per-thread heaps, out-of-line metadata and memory that goes back to
 * the OS.  See docs/DESIGN.md for how it works.
 *
 * Every function here is thread-safe.  Blocks may be freed by any thread.
 */
#ifndef OBMALLOC_H
#define OBMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OB_EXPORT __attribute__((visibility("default")))
#define OB_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define OB_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define OB_EXPORT
#define OB_MALLOC_ATTR
#define OB_ALLOC_SIZE(...)
#endif

#define OB_VERSION_MAJOR 0
#define OB_VERSION_MINOR 1
#define OB_VERSION_PATCH 0

/*
 * Allocation.
 *
 * ob_malloc(size): a block of at least `size` bytes, aligned to 16 bytes,
 *   uninitialised.  ob_malloc(0) returns a unique pointer (a 16-byte block)
 *   that ob_free accepts.  Sizes above PTRDIFF_MAX, or memory exhaustion:
 *   NULL with errno = ENOMEM.
 * ob_calloc(n, size): n * size bytes, zeroed.  If the product overflows:
 *   NULL with errno = ENOMEM.
 * ob_usable_size(p): how many bytes the block at p really has (>= the size
 *   asked for); 0 for NULL.  Writing up to that many bytes is allowed.
 */
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(1) void *ob_malloc(size_t size);
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(1, 2) void *ob_calloc(size_t n, size_t size);
OB_EXPORT size_t ob_usable_size(const void *p);

/*
 * Resizing.
 *
 * ob_realloc(p, size): resizes the block, keeping min(old, new) bytes of its
 *   contents; may move it.  ob_realloc(NULL, size) is ob_malloc(size).
 *   ob_realloc(p, 0) with p != NULL frees p and returns NULL, as glibc does
 *   (errno unchanged).  On failure it returns NULL with errno = ENOMEM and
 *   the old block stays valid and unchanged.
 * ob_reallocarray(p, n, size): ob_realloc(p, n * size), but NULL with
 *   errno = ENOMEM (old block untouched) if the product overflows.
 */
OB_EXPORT OB_ALLOC_SIZE(2) void *ob_realloc(void *p, size_t size);
OB_EXPORT OB_ALLOC_SIZE(2, 3) void *ob_reallocarray(void *p, size_t n, size_t size);

/*
 * Release.
 *
 * ob_free(p): gives the block back.  ob_free(NULL) does nothing.  errno is
 *   never changed.  Freeing a pointer obmalloc did not return, or freeing
 *   twice, is a bug in the caller: obmalloc aborts with a message naming
 *   the problem when it sees it, and never corrupts its own state silently.
 * ob_free_sized(p, size): the same, where `size` is the size passed to the
 *   call that allocated p (or any size between it and ob_usable_size(p)).
 *   Its fast path needs no ownership lookup.  A wrong size is detected and
 *   reported where it maps to a different size class.
 */
OB_EXPORT void ob_free(void *p);
OB_EXPORT void ob_free_sized(void *p, size_t size);

/*
 * Aligned allocation.
 *
 * ob_aligned_alloc(alignment, size): a block of `size` bytes whose address
 *   is a multiple of `alignment`.  alignment must be a power of two (any
 *   size is accepted, as C17 DR 460 allows); otherwise NULL with
 *   errno = EINVAL.  Alignments up to 4 MiB are served from arenas, larger
 *   ones (tested up to 1 GiB) by the OS.  The block is freed with ob_free.
 * ob_posix_memalign(&p, alignment, size): as POSIX: returns 0 and sets *p,
 *   or returns EINVAL (alignment not a power of two multiple of
 *   sizeof(void *)) or ENOMEM; *p and errno are left untouched on error.
 */
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(2) void *ob_aligned_alloc(size_t alignment, size_t size);
OB_EXPORT int ob_posix_memalign(void **p, size_t alignment, size_t size);

/*
 * Giving memory back.
 *
 * obmalloc returns free memory to the OS by itself: pages that stay free
 * for OBMALLOC_PURGE_DELAY milliseconds (default 10) are purged while the
 * program allocates and frees.  ob_collect does it now, for a program that
 * is about to sit idle: it releases the calling thread's empty pools and
 * purges its free pages that have been free for a tick; with force != 0
 * it purges every free page, releases the thread's empty arenas and
 * unmaps the spare arenas and cached huge blocks kept for reuse.
 */
OB_EXPORT void ob_collect(int force);

/*
 * Version: "MAJOR.MINOR.PATCH".
 */
OB_EXPORT const char *ob_version(void);

#ifdef __cplusplus
}
#endif

#endif /* OBMALLOC_H */
