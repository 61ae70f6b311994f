/*
 * The drop-in: the C library's allocation functions, served by obmalloc.
 * Built into libobmalloc.so only, so that `LD_PRELOAD=libobmalloc.so prog`
 * or linking with -lobmalloc puts every malloc of the process, glibc's own
 * included (through the __libc_* names), into obmalloc.  C++ new and
 * delete reach it through malloc and free.
 *
 * Memory obmalloc never handed out: the dynamic loader allocates with its
 * own minimal malloc before obmalloc can run (from the end of its data
 * segment and from pages it maps itself) and may pass such a pointer to
 * free later.  At start-up the override notes the writable anonymous and
 * loader mappings that already exist; a free of a pointer inside one of
 * them is ignored (the memory was never ours to reuse), realloc copies out
 * of it, and malloc_usable_size says 0.  Any other foreign pointer is a bug
 * and gets the usual report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"

#define OB_EXPORT_C __attribute__((visibility("default")))

/* The names <stdlib.h> and <malloc.h> do not declare. */
OB_EXPORT_C void cfree(void *p);
OB_EXPORT_C void free_sized(void *p, size_t size);
OB_EXPORT_C void free_aligned_sized(void *p, size_t alignment, size_t size);
OB_EXPORT_C void *__libc_malloc(size_t size);
OB_EXPORT_C void __libc_free(void *p);
OB_EXPORT_C void *__libc_calloc(size_t n, size_t size);
OB_EXPORT_C void *__libc_realloc(void *p, size_t size);
OB_EXPORT_C void *__libc_memalign(size_t alignment, size_t size);
OB_EXPORT_C void *__libc_valloc(size_t size);
OB_EXPORT_C void *__libc_pvalloc(size_t size);

/* ---- memory that was there before us ---------------------------------- */

#define MAX_EARLY 64
static struct {
    uintptr_t start, end;
} early[MAX_EARLY];
static size_t n_early;

static uintptr_t parse_hex(const char **s)
{
    uintptr_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* One line of /proc/self/maps: "start-end perms offset dev inode path". */
static void note_mapping(const char *line)
{
    const char *s = line;
    uintptr_t start = parse_hex(&s);
    if (*s++ != '-')
        return;
    uintptr_t end = parse_hex(&s);
    if (*s++ != ' ' || s[0] != 'r' || s[1] != 'w')
        return;
    /* The path follows perms, offset, device and inode; anonymous mappings
     * have none. */
    int field = 0;
    while (*s && field < 4) {
        while (*s == ' ')
            s++;
        while (*s && *s != ' ')
            s++;
        field++;
    }
    while (*s == ' ')
        s++;
    bool anonymous = *s == 0;
    bool loader = strstr(s, "/ld-linux") != NULL || strstr(s, "/ld-") != NULL;
    if ((anonymous || loader) && n_early < MAX_EARLY) {
        early[n_early].start = start;
        early[n_early].end = end;
        n_early++;
    }
}

/* CPython sends its objects to malloc only under PYTHONMALLOC=malloc: then
 * the blocks start where CPython's garbage collector walks them fastest
 * (ob_prefer_block_offset; docs/DESIGN.md), unless OBMALLOC_BLOCK_OFFSET
 * says otherwise.  Any other program keeps the default. */
static void prefer_cpython_layout(void)
{
    const char *py = getenv("PYTHONMALLOC");
    if (!_ob_options.block_offset_set && py != NULL && strcmp(py, "malloc") == 0)
        _ob_options.block_offset = OB_CPYTHON_BLOCK_OFFSET;
}

/* Called once from _ob_init, after the options and before obmalloc maps
 * anything or builds its size classes.  Reads /proc/self/maps with plain
 * system calls into a stack buffer: malloc cannot be used here. */
void _ob_override_init(void)
{
    prefer_cpython_layout();
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    char line[512];
    size_t len = 0;
    ssize_t n;
    while ((n = syscall(SYS_read, fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                line[len] = 0;
                note_mapping(line);
                len = 0;
            } else if (len + 1 < sizeof line) {
                line[len++] = buf[i];
            }
        }
    }
    syscall(SYS_close, fd);
}

/* Is p in memory that existed before obmalloc started?  If so, *extent is
 * how many bytes from p to the end of that mapping. */
bool _ob_foreign_preexisting(const void *p, size_t *extent)
{
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < n_early; i++) {
        if (a >= early[i].start && a < early[i].end) {
            *extent = early[i].end - a;
            return true;
        }
    }
    return false;
}

/* ---- the C library's names --------------------------------------------- */

OB_EXPORT_C void *malloc(size_t size)
{
    return malloc_fast(size);
}

OB_EXPORT_C void free(void *p)
{
    free_fast(p);
}

OB_EXPORT_C void cfree(void *p)
{
    free_fast(p);
}

OB_EXPORT_C void *calloc(size_t n, size_t size)
{
    return ob_calloc(n, size);
}

OB_EXPORT_C void *realloc(void *p, size_t size)
{
    return ob_realloc(p, size);
}

OB_EXPORT_C void *reallocarray(void *p, size_t n, size_t size)
{
    return ob_reallocarray(p, n, size);
}

OB_EXPORT_C int posix_memalign(void **p, size_t alignment, size_t size)
{
    return ob_posix_memalign(p, alignment, size);
}

OB_EXPORT_C void *aligned_alloc(size_t alignment, size_t size)
{
    return ob_aligned_alloc(alignment, size);
}

/* glibc's memalign rounds an alignment that is not a power of two up to
 * one, and refuses only alignments too large to round. */
OB_EXPORT_C void *memalign(size_t alignment, size_t size)
{
    if (alignment > (SIZE_MAX >> 1) + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!ob_is_pow2(alignment)) {
        size_t a = OB_ALIGNMENT;
        while (a < alignment)
            a <<= 1;
        alignment = a;
    }
    return ob_aligned_alloc(alignment, size);
}

OB_EXPORT_C void *valloc(size_t size)
{
    return ob_aligned_alloc(_ob_os_page_size(), size);
}

OB_EXPORT_C void *pvalloc(size_t size)
{
    size_t page = _ob_os_page_size();
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return ob_aligned_alloc(page, ob_align_up(size ? size : 1, page));
}

OB_EXPORT_C size_t malloc_usable_size(void *p)
{
    size_t extent;
    if (p != NULL && ob_map_lookup(p) == 0 && _ob_foreign_preexisting(p, &extent))
        return 0;
    return ob_usable_size(p);
}

/* C23. */
OB_EXPORT_C void free_sized(void *p, size_t size)
{
    free_sized_fast(p, size);
}

OB_EXPORT_C void free_aligned_sized(void *p, size_t alignment, size_t size)
{
    (void)alignment;
    free_sized_fast(p, size);
}

/* glibc: give free memory back to the OS. */
OB_EXPORT_C int malloc_trim(size_t pad)
{
    (void)pad;
    ob_collect(1);
    return 1;
}

/* The names glibc uses internally and some programs call directly. */
OB_EXPORT_C void *__libc_malloc(size_t size) { return malloc_fast(size); }
OB_EXPORT_C void __libc_free(void *p) { free_fast(p); }
OB_EXPORT_C void *__libc_calloc(size_t n, size_t size) { return ob_calloc(n, size); }
OB_EXPORT_C void *__libc_realloc(void *p, size_t size) { return ob_realloc(p, size); }
OB_EXPORT_C void *__libc_memalign(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}
OB_EXPORT_C void *__libc_valloc(size_t size) { return valloc(size); }
OB_EXPORT_C void *__libc_pvalloc(size_t size) { return pvalloc(size); }
