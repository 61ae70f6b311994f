/*
 * Names for code addresses, for the heap profiler's folded stacks
 * (prof.c).  dladdr knows only the symbols an object exports; a program's
 * own functions (static ones, or all of them without -rdynamic) are in its
 * ELF file's .symtab.  So: the loaded objects are listed once per dump
 * (dl_iterate_phdr), the symbol table of each object a stack passes
 * through is read, its function symbols (.symtab, else .dynsym) sorted, and each
 * address looked up there; else the frame is object+offset.  C++ names are
 * demangled when the process has a C++ runtime.
 *
 * Used only while a dump is written, outside the profiler's lock; what it
 * reads it drops at the end of the dump (_ob_symbols_release).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* abi::__cxa_demangle, if a C++ runtime is loaded. */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status)
    __attribute__((weak));

typedef struct sym {
    uint64_t start, size;
    uint32_t name; /* offset in the string table */
} sym_t;

typedef struct module {
    char path[512];   /* the file ("" until found) */
    uintptr_t lo, hi; /* the span of its loadable segments */
    uintptr_t bias;   /* run-time address - symbol value (dlpi_addr) */
    bool loaded;      /* its symbols were looked for */
    const char *strtab; /* its string table, read */
    size_t strtab_size, strtab_mapped;
    sym_t *syms;
    size_t nsyms, syms_mapped;
} module_t;

#define MAX_MODULES 128
static module_t modules[MAX_MODULES];
static size_t nmodules;
static char demangled[1024];

static void sift_down(sym_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1].start > a[child].start)
            child++;
        if (a[root].start >= a[child].start)
            return;
        sym_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort_syms(sym_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        sym_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

/* A section of the file, read into memory of its own (NULL if it cannot
 * be): a dump holds only the symbol and string tables it needs (about
 * 0.8 MB for CPython's objects), and gives them back when it ends. */
static void *read_section(int fd, uint64_t offset, size_t size, size_t *mapped)
{
    *mapped = ob_align_up(size ? size : 1, OB_PAGE_SIZE);
    void *p = _ob_os_map(*mapped, 0);
    if (p != NULL && !_ob_os_pread(fd, p, size, offset)) {
        _ob_os_unmap(p, *mapped);
        p = NULL;
    }
    return p;
}

static bool is_function(const ElfW(Sym) *sym, size_t strtab_size)
{
    return ELF64_ST_TYPE(sym->st_info) == STT_FUNC && sym->st_value != 0 &&
           sym->st_shndx != SHN_UNDEF && sym->st_name < strtab_size;
}

/* The function symbols of the object's file: .symtab if it has one, else
 * .dynsym. */
static void load_symbols(module_t *m, int fd)
{
    ElfW(Ehdr) eh;
    if (!_ob_os_pread(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shoff == 0 || eh.e_shnum == 0 ||
        eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum > 4096)
        return;
    ElfW(Shdr) sh[eh.e_shnum <= 256 ? eh.e_shnum : 1];
    if (eh.e_shnum > 256 || !_ob_os_pread(fd, sh, eh.e_shnum * sizeof(ElfW(Shdr)), eh.e_shoff))
        return;
    const ElfW(Shdr) *table = NULL;
    for (unsigned i = 0; i < eh.e_shnum; i++)
        if (sh[i].sh_type == SHT_SYMTAB)
            table = &sh[i];
    for (unsigned i = 0; table == NULL && i < eh.e_shnum; i++)
        if (sh[i].sh_type == SHT_DYNSYM)
            table = &sh[i];
    if (table == NULL || table->sh_link >= eh.e_shnum || table->sh_entsize != sizeof(ElfW(Sym)))
        return;
    const ElfW(Shdr) *str = &sh[table->sh_link];
    m->strtab = read_section(fd, str->sh_offset, str->sh_size, &m->strtab_mapped);
    if (m->strtab == NULL)
        return;
    m->strtab_size = str->sh_size;
    size_t table_mapped;
    const ElfW(Sym) *sym = read_section(fd, table->sh_offset, table->sh_size, &table_mapped);
    if (sym == NULL)
        return;
    size_t n = table->sh_size / sizeof *sym, count = 0;
    for (size_t i = 0; i < n; i++)
        count += is_function(&sym[i], m->strtab_size);
    if (count != 0) {
        m->syms_mapped = ob_align_up(count * sizeof(sym_t), OB_PAGE_SIZE);
        m->syms = _ob_os_map(m->syms_mapped, 0);
    }
    if (m->syms != NULL) {
        for (size_t i = 0; i < n; i++)
            if (is_function(&sym[i], m->strtab_size))
                m->syms[m->nsyms++] = (sym_t){sym[i].st_value, sym[i].st_size, sym[i].st_name};
        sort_syms(m->syms, m->nsyms);
    }
    _ob_os_unmap((void *)sym, table_mapped);
}

/* The loaded objects, from the loader's list (dladdr would do, but it
 * scans an object's whole symbol table on every call: 0.3 s for a dump of
 * a CPython run). */
static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (nmodules == MAX_MODULES)
        return 1;
    module_t *m = &modules[nmodules];
    memset(m, 0, sizeof *m);
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (lo < m->lo)
            m->lo = lo;
        if (lo + ph->p_memsz > m->hi)
            m->hi = lo + ph->p_memsz;
    }
    if (m->lo >= m->hi)
        return 0;
    m->bias = info->dlpi_addr;
    /* The main program has no name here: the kernel's link to it. */
    const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
    size_t n = strlen(name);
    if (n >= sizeof m->path)
        return 0;
    memcpy(m->path, name, n + 1);
    nmodules++;
    return 0;
}

static module_t *module_of(uintptr_t addr)
{
    if (nmodules == 0)
        dl_iterate_phdr(add_module, NULL);
    for (size_t i = 0; i < nmodules; i++) {
        module_t *m = &modules[i];
        if (addr - m->lo < m->hi - m->lo) {
            if (!m->loaded) {
                m->loaded = true;
                int fd = _ob_os_open_read(m->path);
                if (fd >= 0) {
                    load_symbols(m, fd);
                    _ob_os_close(fd);
                }
            }
            return m;
        }
    }
    return NULL;
}

static const char *lookup(const module_t *m, uintptr_t addr)
{
    if (m == NULL || m->nsyms == 0)
        return NULL;
    uint64_t v = addr - m->bias;
    size_t lo = 0, hi = m->nsyms; /* the last symbol starting at or before v */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].start <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const sym_t *s = &m->syms[lo - 1];
    if (s->size != 0 && v >= s->start + s->size)
        return NULL;
    return m->strtab + s->name;
}

static const char *demangle(const char *name)
{
    if (name[0] != '_' || name[1] != 'Z' || __cxa_demangle == NULL)
        return name;
    int status = -1;
    char *out = __cxa_demangle(name, NULL, NULL, &status);
    if (out == NULL || status != 0)
        return name;
    size_t n = strlen(out);
    if (n >= sizeof demangled)
        n = sizeof demangled - 1;
    memcpy(demangled, out, n);
    demangled[n] = 0;
    free(out);
    return demangled;
}

/* The function containing the return address `ip` (the call is the byte
 * before it).  *object and *offset: where to point when no name is known
 * (object NULL: not even that; the offset is then the address). */
const char *_ob_symbolize(const void *ip, const char **object, uintptr_t *offset)
{
    uintptr_t call = (uintptr_t)ip - 1;
    const module_t *m = module_of(call);
    *object = NULL;
    *offset = (uintptr_t)ip;
    if (m == NULL)
        return NULL;
    const char *name = lookup(m, call);
    if (name != NULL && name[0] != 0)
        return demangle(name);
    const char *slash = strrchr(m->path, '/');
    *object = slash ? slash + 1 : m->path;
    *offset = (uintptr_t)ip - m->bias;
    return NULL;
}

void _ob_symbols_release(void)
{
    for (size_t i = 0; i < nmodules; i++) {
        if (modules[i].syms != NULL)
            _ob_os_unmap(modules[i].syms, modules[i].syms_mapped);
        if (modules[i].strtab != NULL)
            _ob_os_unmap((void *)modules[i].strtab, modules[i].strtab_mapped);
    }
    nmodules = 0;
}

/* In a fork child: a dump the parent was writing in another thread left
 * the cache half made; what it had read stays mapped (a few hundred KB). */
void _ob_symbols_forget(void)
{
    nmodules = 0;
}
