/*
 * obpython: the machine's CPython, with obmalloc as its memory allocator.
 *
 * CPython lets an embedding program choose the allocator of each memory
 * domain (PEP 445).  obpython gives all three to obmalloc's ob_* API:
 * OBJ (objects) and MEM (PyMem_Malloc), which pymalloc serves in python3,
 * and RAW (PyMem_RawMalloc, which python3 sends to libc malloc; obmalloc
 * is thread-safe, so RAW's rule that it be callable without the GIL
 * holds).  Everything else is python3 unchanged: the same libpython, the
 * same arguments, standard library, exit codes and output.  Memory that
 * other code (libc, extension modules) gets with malloc directly stays
 * with the C library, as in python3.
 *
 * The allocators go in after pre-initialisation, which is where CPython
 * applies PYTHONMALLOC and -X dev: those choose pymalloc or libc malloc
 * (which obpython overrides: it always runs on obmalloc) and CPython's
 * debug hooks (which obpython keeps, on top of obmalloc).  Nothing is
 * allocated from the domains before that point that is freed after it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "obmalloc.h"
/* The malloc and free fast paths, inlined into the hooks: CPython already
 * pays an indirect call to reach them, this saves a second call. */
#include "alloc.h"

static void *py_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc_fast(size);
}

static void *py_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    return ob_calloc(n, size);
}

/* PEP 445: realloc(p, 0) resizes to an empty block, it does not free. */
static void *py_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return ob_realloc(p, size ? size : 1);
}

static void py_free(void *ctx, void *p)
{
    (void)ctx;
    free_fast(p);
}

/* Did pre-initialisation install CPython's debug hooks (PYTHONMALLOC=debug
 * and its *_debug forms, or -X dev)?  Installing them is idempotent: if
 * they are there, the allocator does not change. */
static int debug_hooks_installed(void)
{
    PyMemAllocatorEx before, after;
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &before);
    PyMem_SetupDebugHooks();
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &after);
    return after.malloc == before.malloc;
}

static int exit_for(PyStatus status)
{
    if (PyStatus_IsExit(status))
        return status.exitcode;
    Py_ExitStatusException(status); /* prints the error, exits with 1 */
}

int main(int argc, char **argv)
{
    /* Blocks laid out for CPython's garbage collector (docs/DESIGN.md);
     * OBMALLOC_BLOCK_OFFSET still decides if set.  (In debug mode obmalloc
     * has allocated already and keeps its layout: EBUSY, ignored.) */
    (void)ob_prefer_block_offset(OB_CPYTHON_BLOCK_OFFSET);

    PyPreConfig preconfig;
    PyPreConfig_InitPythonConfig(&preconfig);
    PyStatus status = Py_PreInitializeFromBytesArgs(&preconfig, argc, argv);
    if (PyStatus_Exception(status))
        return exit_for(status);

    int hooks = debug_hooks_installed();
    PyMemAllocatorEx ob = {NULL, py_malloc, py_calloc, py_realloc, py_free};
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &ob);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &ob);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &ob);
    if (hooks)
        PyMem_SetupDebugHooks(); /* now around obmalloc */

    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        return exit_for(status);
    return Py_RunMain();
}
