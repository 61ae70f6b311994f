/*
 * The C++ allocation operators, served directly: every replaceable form of
 * operator new and delete in C++17 (plain, array, nothrow, sized, aligned,
 * and their combinations).  In both libraries: libobmalloc.so replaces the
 * C++ runtime's operators for the whole process (LD_PRELOAD or linking),
 * and a C++ program linked with libobmalloc.a takes them from here.
 *
 * Why not through malloc: the runtime's operator new calls malloc, one call
 * and one PLT hop more; its sized delete drops the size, which obmalloc's
 * sized free uses to find the pool without a lookup; its aligned new goes
 * through aligned_alloc with a size rounded up to the alignment.
 *
 * Written in C, with the C++ names spelled as the Itanium ABI mangles them,
 * so that the library needs no C++ runtime of its own: a C program that
 * preloads it does not load libstdc++.  What only the C++ runtime can do
 * (find the new-handler, throw std::bad_alloc) is reached through weak
 * references, which the program's own C++ runtime fills in (libstdc++ and
 * libc++ both export these names).  This file is compiled with -fexceptions
 * so that an exception thrown by a new-handler passes through it.
 *
 * Failure, as [new.delete.single] says: operator new calls the new-handler
 * and tries again while there is one, and throws std::bad_alloc when there
 * is none.  The nothrow forms return NULL instead of throwing.  (A
 * new-handler that itself throws passes its exception through a nothrow
 * form here, where libstdc++ would catch it and return NULL: catching is
 * the one thing C cannot do.  docs/DESIGN.md.)
 */
#include <errno.h>
#include <stdint.h>

#include "alloc.h"

#define OB_CXX __attribute__((visibility("default")))

typedef void (*new_handler_t)(void);
/* std::get_new_handler() and std::__throw_bad_alloc(). */
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/* The operators' declarations: the names are the mangled C++ ones.
 * 'm' is size_t, St11align_val_t std::align_val_t (a size_t), RKSt9nothrow_t
 * `const std::nothrow_t &`. */
OB_CXX void *_Znwm(size_t size);
OB_CXX void *_Znam(size_t size);
OB_CXX void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow);
OB_CXX void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow);
OB_CXX void *_ZnwmSt11align_val_t(size_t size, size_t align);
OB_CXX void *_ZnamSt11align_val_t(size_t size, size_t align);
OB_CXX void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nothrow);
OB_CXX void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nothrow);
OB_CXX void _ZdlPv(void *p);
OB_CXX void _ZdaPv(void *p);
OB_CXX void _ZdlPvm(void *p, size_t size);
OB_CXX void _ZdaPvm(void *p, size_t size);
OB_CXX void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow);
OB_CXX void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow);
OB_CXX void _ZdlPvSt11align_val_t(void *p, size_t align);
OB_CXX void _ZdaPvSt11align_val_t(void *p, size_t align);
OB_CXX void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
OB_CXX void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
OB_CXX void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nothrow);
OB_CXX void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nothrow);

/* ---- failure ---------------------------------------------------------- */

static new_handler_t current_new_handler(void)
{
    return _ZSt15get_new_handlerv != NULL ? _ZSt15get_new_handlerv() : NULL;
}

static __attribute__((noreturn)) void throw_bad_alloc(size_t size)
{
    if (_ZSt17__throw_bad_allocv != NULL)
        _ZSt17__throw_bad_allocv();
    /* No C++ runtime in the process exports the name: nothing can catch. */
    _ob_fatal("operator new failed", NULL,
              "out of memory, and no C++ runtime to throw std::bad_alloc");
}

/* The slow path of every operator new: the first attempt failed.  Calls
 * the new-handler and tries again while there is one.  align 0: plain. */
static __attribute__((noinline)) void *new_failed(size_t size, size_t align, bool nothrow)
{
    for (;;) {
        new_handler_t handler = current_new_handler();
        if (handler == NULL) {
            if (nothrow)
                return NULL;
            throw_bad_alloc(size);
        }
        handler();
        void *p = align ? ob_aligned_alloc(align, size) : ob_malloc(size);
        if (p != NULL)
            return p;
    }
}

OB_INLINE void *new_plain(size_t size, bool nothrow)
{
    void *p = malloc_fast(size);
    if (OB_LIKELY(p != NULL))
        return p;
    return new_failed(size, 0, nothrow);
}

OB_INLINE void *new_aligned(size_t size, size_t align, bool nothrow)
{
    /* align_val_t is a power of two by the standard's precondition; one
     * that is not fails like an impossible size. */
    void *p = ob_aligned_alloc(align, size);
    if (OB_LIKELY(p != NULL))
        return p;
    if (!ob_is_pow2(align)) {
        if (nothrow)
            return NULL;
        throw_bad_alloc(size);
    }
    return new_failed(size, align, nothrow);
}

/* ---- operator new ----------------------------------------------------- */

void *_Znwm(size_t size) { return new_plain(size, false); }
void *_Znam(size_t size) { return new_plain(size, false); }
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt) { return new_plain(size, true); }
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt) { return new_plain(size, true); }
void *_ZnwmSt11align_val_t(size_t size, size_t align) { return new_aligned(size, align, false); }
void *_ZnamSt11align_val_t(size_t size, size_t align) { return new_aligned(size, align, false); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
    return new_aligned(size, align, true);
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
    return new_aligned(size, align, true);
}

/* ---- operator delete -------------------------------------------------- */
/* Sized forms take the sized free (alloc.h), which checks the size
 * against the block's pool: any size up to the usable size is accepted,
 * an aligned block's too. */

void _ZdlPv(void *p) { free_fast(p); }
void _ZdaPv(void *p) { free_fast(p); }
void _ZdlPvm(void *p, size_t size) { free_sized_fast(p, size); }
void _ZdaPvm(void *p, size_t size) { free_sized_fast(p, size); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { free_fast(p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { free_fast(p); }
void _ZdlPvSt11align_val_t(void *p, size_t align) { free_fast(p); }
void _ZdaPvSt11align_val_t(void *p, size_t align) { free_fast(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { free_sized_fast(p, size); }
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { free_sized_fast(p, size); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) { free_fast(p); }
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) { free_fast(p); }
