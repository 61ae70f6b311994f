/*
 * Names for code addresses, for the heap profiler's files (prof_dump.c).
 * dladdr knows only the symbols an object exports; a program's own
 * functions (static ones, or all of them without -rdynamic) are in its ELF
 * file's .symtab.  So: the loaded objects are listed once per dump
 * (dl_iterate_phdr), the symbol table of each object a stack passes
 * through is read, its function symbols sorted, and each address looked
 * up there; else the frame is object+offset.  C++ names are demangled when
 * the process has a C++ runtime.
 *
 * Which table: the object's own .symtab; else, for a stripped object, the
 * .symtab of its separate debug file (Debian's -dbg and -dbgsym packages:
 * /usr/lib/debug/.build-id/xx/rest.debug, or where its .gnu_debuglink
 * points), taken only when its build ID is the object's; else .dynsym,
 * which names only exported functions: an address between two of them is
 * left object+offset rather than given to the wrong neighbour (each symbol
 * covers only its st_size bytes).  A .gnu_debugdata section (a symbol table
 * compressed with xz, which Debian does not use) is not read: that would
 * need a decompressor inside the allocator.  _ob_symbols_unnamed says which
 * objects had no full table, so the profiler can tell the user.
 *
 * Used only while a dump is written, outside the profiler's lock; what it
 * reads it drops at the end of the dump (_ob_symbols_release).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "internal.h"

/* abi::__cxa_demangle, if a C++ runtime is loaded. */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status)
    __attribute__((weak));

typedef struct sym {
    uint64_t start, size;
    uint32_t name;    /* offset in the string table */
    uint32_t quality; /* among aliases at one address, the highest is shown */
} sym_t;

/* Of the names at one address (a debug file's table has glibc's
 * __libc_start_main_impl, _alias_1, _alias_2 and __libc_start_main), the
 * one users know: global before weak before local, then the shortest. */
static uint32_t quality_of(const ElfW(Sym) *sym, const char *strtab, size_t strtab_size)
{
    int bind = ELF64_ST_BIND(sym->st_info);
    uint32_t rank = bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0;
    size_t len = strnlen(strtab + sym->st_name, strtab_size - sym->st_name);
    return rank << 16 | (uint32_t)(len < 0xffff ? 0xffff - len : 0);
}

static bool sym_less(const sym_t *a, const sym_t *b)
{
    return a->start < b->start || (a->start == b->start && a->quality < b->quality);
}

/* Where a module's names came from. */
enum names { NAMES_NOT_READ, NAMES_SYMTAB, NAMES_DEBUG_FILE, NAMES_EXPORTS, NAMES_NONE };

#define MAX_BUILD_ID 64

typedef struct module {
    char path[512];   /* the file ("" until found) */
    uintptr_t lo, hi; /* the span of its loadable segments */
    uintptr_t bias;   /* run-time address - symbol value (dlpi_addr) */
    bool is_program;  /* the main program: opened through /proc/self/exe */
    enum names names;
    unsigned char build_id[MAX_BUILD_ID]; /* from its PT_NOTE, in memory */
    size_t build_id_len;
    const char *strtab; /* its string table, read */
    size_t strtab_size, strtab_mapped;
    sym_t *syms;
    size_t nsyms, syms_mapped;
} module_t;

#define MAX_MODULES 128
static module_t modules[MAX_MODULES];
static size_t nmodules;
static char demangled[1024], unversioned[1024];

static void sift_down(sym_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && sym_less(&a[child], &a[child + 1]))
            child++;
        if (!sym_less(&a[root], &a[child]))
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

/* The GNU build ID among ELF notes (`align`: the notes' alignment). */
static size_t note_build_id(const unsigned char *p, size_t size, size_t align, unsigned char *out)
{
    align = align == 8 ? 8 : 4;
    size_t at = 0;
    while (at + sizeof(ElfW(Nhdr)) <= size) {
        ElfW(Nhdr) n;
        memcpy(&n, p + at, sizeof n);
        size_t name_at = at + sizeof n;
        size_t desc_at = name_at + ob_align_up(n.n_namesz, align);
        size_t next = desc_at + ob_align_up(n.n_descsz, align);
        if (n.n_namesz > size || n.n_descsz > size || next > size)
            return 0;
        if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && memcmp(p + name_at, "GNU", 4) == 0 &&
            n.n_descsz > 0 && n.n_descsz <= MAX_BUILD_ID) {
            memcpy(out, p + desc_at, n.n_descsz);
            return n.n_descsz;
        }
        at = next;
    }
    return 0;
}

/* An ELF file's header and section headers (in memory of their own). */
typedef struct elf_file {
    int fd;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh;
    size_t sh_mapped;
} elf_file_t;

static bool elf_open(elf_file_t *f, const char *path)
{
    f->sh = NULL;
    f->fd = _ob_os_open_read(path);
    if (f->fd < 0)
        return false;
    ElfW(Ehdr) *eh = &f->eh;
    if (_ob_os_pread(f->fd, eh, sizeof *eh, 0) && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
        eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_shoff != 0 && eh->e_shnum != 0 &&
        eh->e_shnum <= 4096 && eh->e_shentsize == sizeof(ElfW(Shdr)) &&
        eh->e_shstrndx < eh->e_shnum)
        f->sh = read_section(f->fd, eh->e_shoff, eh->e_shnum * sizeof(ElfW(Shdr)), &f->sh_mapped);
    if (f->sh == NULL) {
        _ob_os_close(f->fd);
        return false;
    }
    return true;
}

static void elf_close(elf_file_t *f)
{
    _ob_os_unmap(f->sh, f->sh_mapped);
    _ob_os_close(f->fd);
}

/* The first section of this type (SHT_NOBITS ones, which a debug file has
 * in place of the code, hold nothing and never match). */
static const ElfW(Shdr) *elf_section(const elf_file_t *f, uint32_t type)
{
    for (unsigned i = 0; i < f->eh.e_shnum; i++)
        if (f->sh[i].sh_type == type)
            return &f->sh[i];
    return NULL;
}

/* The section called `name`, read; NULL if absent or unreadable. */
static void *elf_read_named(const elf_file_t *f, const char *name, size_t *size, size_t *mapped)
{
    const ElfW(Shdr) *names = &f->sh[f->eh.e_shstrndx];
    if (names->sh_type != SHT_STRTAB || names->sh_size > (1u << 20))
        return NULL;
    size_t names_mapped;
    const char *strs = read_section(f->fd, names->sh_offset, names->sh_size, &names_mapped);
    if (strs == NULL)
        return NULL;
    void *out = NULL;
    size_t len = strlen(name);
    for (unsigned i = 0; i < f->eh.e_shnum && out == NULL; i++) {
        const ElfW(Shdr) *s = &f->sh[i];
        if (s->sh_name + len < names->sh_size && memcmp(strs + s->sh_name, name, len + 1) == 0 &&
            s->sh_type != SHT_NOBITS && s->sh_size <= (1u << 16)) {
            out = read_section(f->fd, s->sh_offset, s->sh_size, mapped);
            *size = s->sh_size;
        }
    }
    _ob_os_unmap((void *)strs, names_mapped);
    return out;
}

/* The build ID in a file's note sections. */
static size_t elf_build_id(const elf_file_t *f, unsigned char *out)
{
    for (unsigned i = 0; i < f->eh.e_shnum; i++) {
        const ElfW(Shdr) *s = &f->sh[i];
        if (s->sh_type != SHT_NOTE || s->sh_size > (1u << 16))
            continue;
        size_t mapped, n = 0;
        unsigned char *notes = read_section(f->fd, s->sh_offset, s->sh_size, &mapped);
        if (notes != NULL) {
            n = note_build_id(notes, s->sh_size, s->sh_addralign, out);
            _ob_os_unmap(notes, mapped);
        }
        if (n != 0)
            return n;
    }
    return 0;
}

static void drop_table(module_t *m)
{
    if (m->syms != NULL)
        _ob_os_unmap(m->syms, m->syms_mapped);
    if (m->strtab != NULL)
        _ob_os_unmap((void *)m->strtab, m->strtab_mapped);
    m->syms = NULL;
    m->strtab = NULL;
    m->nsyms = m->strtab_size = 0;
}

/* The function symbols of `table` (a section of `f`) into the module;
 * false, with nothing kept, if it has none or cannot be read. */
static bool load_table(module_t *m, const elf_file_t *f, const ElfW(Shdr) *table)
{
    if (table->sh_link >= f->eh.e_shnum || table->sh_entsize != sizeof(ElfW(Sym)))
        return false;
    const ElfW(Shdr) *str = &f->sh[table->sh_link];
    if (str->sh_type != SHT_STRTAB)
        return false;
    m->strtab = read_section(f->fd, str->sh_offset, str->sh_size, &m->strtab_mapped);
    size_t table_mapped;
    const ElfW(Sym) *sym = m->strtab == NULL ? NULL
                           : read_section(f->fd, table->sh_offset, table->sh_size, &table_mapped);
    if (sym == NULL) {
        drop_table(m);
        return false;
    }
    m->strtab_size = str->sh_size;
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
                m->syms[m->nsyms++] = (sym_t){sym[i].st_value, sym[i].st_size, sym[i].st_name,
                                              quality_of(&sym[i], m->strtab, m->strtab_size)};
        sort_syms(m->syms, m->nsyms);
    }
    _ob_os_unmap((void *)sym, table_mapped);
    if (m->nsyms == 0)
        drop_table(m);
    return m->nsyms != 0;
}

/* /usr/lib/debug/.build-id/xx/rest.debug for the module's build ID. */
static size_t build_id_path(const module_t *m, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = ob_str_append(out, 0, cap, "/usr/lib/debug/.build-id/", 64);
    for (size_t i = 0; i < m->build_id_len && n + 4 < cap; i++) {
        out[n++] = hex[m->build_id[i] >> 4];
        out[n++] = hex[m->build_id[i] & 15];
        if (i == 0)
            out[n++] = '/';
    }
    out[n] = 0;
    return ob_str_append(out, n, cap, ".debug", 6);
}

/* The .symtab of the debug file at `path`, if its build ID is the
 * module's (a debug file of another build would name the wrong code). */
static bool load_debug_file(module_t *m, const char *path)
{
    elf_file_t f;
    if (m->build_id_len == 0 || !elf_open(&f, path))
        return false;
    unsigned char id[MAX_BUILD_ID];
    const ElfW(Shdr) *symtab = elf_section(&f, SHT_SYMTAB);
    bool ok = symtab != NULL && elf_build_id(&f, id) == m->build_id_len &&
              memcmp(id, m->build_id, m->build_id_len) == 0 && load_table(m, &f, symtab);
    elf_close(&f);
    return ok;
}

/* A separate debug file, as gdb looks for one: by build ID, then by the
 * name in .gnu_debuglink beside the object, in its .debug folder and under
 * /usr/lib/debug. */
static bool load_separate_debug(module_t *m, const elf_file_t *f)
{
    char path[1024];
    if (m->build_id_len == 0)
        return false;
    build_id_path(m, path, sizeof path);
    if (load_debug_file(m, path))
        return true;
    size_t size, mapped;
    const char *link = elf_read_named(f, ".gnu_debuglink", &size, &mapped);
    if (link == NULL)
        return false;
    size_t link_len = strnlen(link, size);
    const char *slash = strrchr(m->path, '/');
    size_t dir = slash ? (size_t)(slash - m->path) : 0;
    bool found = false;
    if (link_len != 0 && link_len < size && dir != 0) {
        static const char *const where[] = {"", "/.debug", "/usr/lib/debug"};
        for (size_t i = 0; i < 3 && !found; i++) {
            size_t n = 0;
            if (i == 2)
                n = ob_str_append(path, n, sizeof path, where[i], 64);
            n = ob_str_append(path, n, sizeof path, m->path, dir);
            if (i == 1)
                n = ob_str_append(path, n, sizeof path, where[i], 64);
            n = ob_str_append(path, n, sizeof path, "/", 1);
            n = ob_str_append(path, n, sizeof path, link, link_len);
            found = strcmp(path, m->path) != 0 && load_debug_file(m, path);
        }
    }
    _ob_os_unmap((void *)link, mapped);
    return found;
}

/* The module's function symbols: .symtab, else a debug file's, else
 * .dynsym. */
static void load_symbols(module_t *m)
{
    elf_file_t f;
    m->names = NAMES_NONE;
    if (!elf_open(&f, m->is_program ? "/proc/self/exe" : m->path))
        return;
    const ElfW(Shdr) *table = elf_section(&f, SHT_SYMTAB);
    if (table != NULL && load_table(m, &f, table))
        m->names = NAMES_SYMTAB;
    else if (load_separate_debug(m, &f))
        m->names = NAMES_DEBUG_FILE;
    else if ((table = elf_section(&f, SHT_DYNSYM)) != NULL && load_table(m, &f, table))
        m->names = NAMES_EXPORTS;
    elf_close(&f);
}

/* The loaded objects, from the loader's list (dladdr would do, but it
 * scans an object's whole symbol table on every call: 0.3 s for a dump of
 * a CPython run). */
static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (nmodules == MAX_MODULES)
        return 1;
    module_t *m = &modules[nmodules];
    memset(m, 0, sizeof *m);
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && m->build_id_len == 0)
            m->build_id_len = note_build_id((const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
                                            ph->p_memsz, ph->p_align, m->build_id);
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
    if (info->dlpi_name == NULL || info->dlpi_name[0] == 0) {
        m->is_program = true;
        if (_ob_os_program_path(m->path, sizeof m->path) == 0)
            ob_str_append(m->path, 0, sizeof m->path, "/proc/self/exe", 64);
    } else if (ob_str_append(m->path, 0, sizeof m->path, info->dlpi_name, sizeof m->path) + 1 >= sizeof m->path) {
        return 0;
    }
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
            if (m->names == NAMES_NOT_READ)
                load_symbols(m);
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
    if (name != NULL && name[0] != 0) {
        /* A debug file's table keeps symbol versions in the names
         * (__libc_start_main@@GLIBC_2.34); the function is the part before. */
        const char *at = strchr(name, '@');
        if (at != NULL && at != name && (size_t)(at - name) < sizeof unversioned) {
            memcpy(unversioned, name, (size_t)(at - name));
            unversioned[at - name] = 0;
            name = unversioned;
        }
        return demangle(name);
    }
    const char *slash = strrchr(m->path, '/');
    *object = slash ? slash + 1 : m->path;
    *offset = (uintptr_t)ip - m->bias;
    return NULL;
}

/* The running program's file ("" if unknown). */
const char *_ob_symbols_program(void)
{
    if (nmodules == 0)
        dl_iterate_phdr(add_module, NULL);
    for (size_t i = 0; i < nmodules; i++)
        if (modules[i].is_program)
            return modules[i].path;
    return "";
}

/* Lines for the user about the objects looked up in this dump that had no
 * full symbol table: what is named, and where a debug file would be (the
 * first three, then how many more). */
size_t _ob_symbols_unnamed(char *out, size_t cap)
{
    size_t n = 0, shown = 0, more = 0;
    out[0] = 0;
    for (size_t i = 0; i < nmodules; i++) {
        const module_t *m = &modules[i];
        if (m->names != NAMES_EXPORTS && m->names != NAMES_NONE)
            continue;
        if (shown == 3) {
            more++;
            continue;
        }
        shown++;
        n = ob_str_append(out, n, cap, "obmalloc: ", 16);
        n = ob_str_append(out, n, cap, m->path, sizeof m->path);
        n = ob_str_append(out, n, cap, m->names == NAMES_EXPORTS
                                 ? " is stripped: frames outside its exported functions show as"
                                   " object+offset"
                                 : " has no symbols: its frames show as object+offset", 256);
        if (m->build_id_len != 0) {
            char path[256];
            build_id_path(m, path, sizeof path);
            n = ob_str_append(out, n, cap, "; its debug file would be ", 32);
            n = ob_str_append(out, n, cap, path, sizeof path);
            n = ob_str_append(out, n, cap, " (its -dbg or -dbgsym package)", 64);
        }
        n = ob_str_append(out, n, cap, "\n", 1);
    }
    if (more != 0) {
        char num[OB_FMT_MAX];
        ob_fmt_dec(num, more);
        n = ob_str_append(out, n, cap, "obmalloc: and ", 16);
        n = ob_str_append(out, n, cap, num, sizeof num);
        n = ob_str_append(out, n, cap, " more objects without symbols\n", 64);
    }
    return n;
}

void _ob_symbols_release(void)
{
    for (size_t i = 0; i < nmodules; i++)
        drop_table(&modules[i]);
    nmodules = 0;
}

/* In a fork child: a dump the parent was writing in another thread left
 * the cache half made; what it had read stays mapped (a few hundred KB). */
void _ob_symbols_forget(void)
{
    nmodules = 0;
}
