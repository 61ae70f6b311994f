/*
 * The heap profiler's output (prof.c samples; prof.h is what they share).
 *
 * Files: the heap profile format pprof and jeprof read ("heap_v2/RATE":
 * raw sampled counts, which the tools scale back), with /proc/self/maps
 * after MAPPED_LIBRARIES:, and the estimates as folded stacks
 * (PATH.inuse.folded, PATH.alloc.folded) for flame-graph tools.  Every
 * frame is named here, from the objects' symbol tables or their debug
 * files (symbolize.c), else object+offset: the heap profile starts with
 * pprof's symbol section, so the tools read it without the program (which
 * for a script is a shim, and may have changed since) and never guess a
 * stripped function's name from its exported neighbour.
 * OBMALLOC_PROF_SYMBOLS=0 leaves the section out, for pprof's --lines and
 * --disasm, which need the program.
 *
 * When: ob_prof_dump(path); at exit (OBMALLOC_PROF_FILE, default
 * obmalloc.PID.heap); and on a signal (OBMALLOC_PROF_SIGNAL), written as
 * PATH.N by the next thread that takes a sample, outside the handler.
 * Nothing here allocates: the stacks are copied into mapped memory under
 * the profiler's lock and written without it, through a small buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "prof.h"

static char file_option[4096];
static bool symbols_option = true;
/* What the last dump could not name (symbolize.c), said at exit. */
static char unnamed_note[2048];
/* The sampled counts of the last profile written (live, and over the run). */
static uint64_t last_live_samples, last_alloc_samples;
static int dump_signal;
static _Atomic int dump_requested;
static ob_lock_t dump_lock = OB_LOCK_INIT;
static unsigned dump_seq;

/* ---- writing the files ---------------------------------------------------- */

typedef struct writer {
    int fd;
    bool failed;
    size_t len;
    char buf[8192];
} writer_t;

static void w_flush(writer_t *w)
{
    size_t done = 0;
    while (done < w->len && !w->failed) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->failed = true;
        else
            done += (size_t)n;
    }
    w->len = 0;
}

static void w_bytes(writer_t *w, const char *s, size_t n)
{
    while (n > 0) {
        if (w->len == sizeof w->buf)
            w_flush(w);
        size_t room = sizeof w->buf - w->len, k = n < room ? n : room;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

static void w_str(writer_t *w, const char *s) { w_bytes(w, s, strlen(s)); }

static void w_uint(writer_t *w, uint64_t v)
{
    char tmp[OB_FMT_MAX];
    w_bytes(w, tmp, ob_fmt_dec(tmp, v));
}

static void w_hex(writer_t *w, uint64_t v)
{
    char tmp[OB_FMT_MAX];
    w_bytes(w, tmp, ob_fmt_hex(tmp, v));
}

/* "count: bytes [count: bytes]", pprof's spacing. */
static void w_counts(writer_t *w, uint64_t n1, uint64_t s1, uint64_t n2, uint64_t s2)
{
    w_uint(w, n1);
    w_str(w, ": ");
    w_uint(w, s1);
    w_str(w, " [");
    w_uint(w, n2);
    w_str(w, ": ");
    w_uint(w, s2);
    w_str(w, "]");
}

static int w_open(writer_t *w, const char *path)
{
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    w->failed = w->fd < 0;
    w->len = 0;
    return w->fd < 0 ? errno : 0;
}

static int w_close(writer_t *w)
{
    w_flush(w);
    int err = w->failed ? (errno ? errno : EIO) : 0;
    if (close(w->fd) != 0 && err == 0)
        err = errno;
    return err;
}

/* A copy of the stacks, taken under the lock and written without it (the
 * names need the loader's list of objects, and dl_iterate_phdr takes the
 * loader's lock: a thread holding that lock may be waiting for ours inside
 * malloc). */
typedef struct snapshot {
    char *mem;
    size_t bytes, count;
} snapshot_t;

static size_t stack_record_size(uint32_t depth)
{
    return ob_align_up(sizeof(prof_stack_t) + depth * sizeof(void *), 16);
}

static bool take_snapshot(snapshot_t *snap)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        _ob_lock(&_ob_prof_lock);
        size_t bytes = 0;
        for (prof_stack_t *s = _ob_prof_stacks; s != NULL; s = s->next)
            bytes += stack_record_size(s->depth);
        _ob_unlock(&_ob_prof_lock);
        size_t mapped = ob_align_up(bytes + 16, OB_PAGE_SIZE);
        char *mem = _ob_os_map(mapped, 0);
        if (mem == NULL)
            return false;
        _ob_lock(&_ob_prof_lock);
        size_t used = 0, count = 0;
        bool fits = true;
        for (prof_stack_t *s = _ob_prof_stacks; s != NULL; s = s->next) {
            size_t n = stack_record_size(s->depth);
            if (used + n > mapped) {
                fits = false;
                break;
            }
            memcpy(mem + used, s, sizeof *s + s->depth * sizeof(void *));
            used += n;
            count++;
        }
        _ob_unlock(&_ob_prof_lock);
        if (fits) {
            snap->mem = mem;
            snap->bytes = mapped;
            snap->count = count;
            return true;
        }
        _ob_os_unmap(mem, mapped); /* stacks were added meanwhile */
    }
    return false;
}

static void w_frame(writer_t *w, void *ip, bool folded);

/* pprof's symbol section: "0xADDRESS name" once for each address on the
 * stacks (a set in mapped memory keeps the repeats out), and the program's
 * path.  pprof looks the addresses up as they are (it subtracts one from a
 * return address only when it names them itself); _ob_symbolize looks up
 * the call before each. */
static void write_symbols(writer_t *w, const snapshot_t *snap)
{
    size_t frames = 0;
    const char *cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth))
        frames += ((const prof_stack_t *)cur)->depth;
    unsigned bits = 4;
    while (((size_t)1 << bits) < 2 * frames)
        bits++;
    size_t slots = (size_t)1 << bits, mapped = ob_align_up(slots * sizeof(uintptr_t), OB_PAGE_SIZE);
    uintptr_t *seen = _ob_os_map(mapped, 0); /* zero: empty (no frame is at 0) */
    w_str(w, "--- symbol\nbinary=");
    w_str(w, _ob_symbols_program());
    w_str(w, "\n");
    cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        for (uint32_t f = 0; f < s->depth; f++) {
            uintptr_t ip = (uintptr_t)s->frames[f];
            if (seen != NULL) {
                size_t at = (size_t)((ip * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
                while (seen[at] != 0 && seen[at] != ip)
                    at = (at + 1) & (slots - 1);
                if (seen[at] == ip)
                    continue;
                seen[at] = ip;
            }
            w_hex(w, (uint64_t)ip);
            w_str(w, " ");
            w_frame(w, (void *)ip, false);
            w_str(w, "\n");
        }
    }
    w_str(w, "---\n");
    if (seen != NULL)
        _ob_os_unmap(seen, mapped);
}

static int write_heap_profile(const char *path, const snapshot_t *snap)
{
    writer_t w;
    int err = w_open(&w, path);
    if (err != 0)
        return err;
    if (symbols_option)
        write_symbols(&w, snap);
    uint64_t n1 = 0, s1 = 0, n2 = 0, s2 = 0;
    const char *cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        n1 += s->live_count;
        s1 += s->live_bytes;
        n2 += s->alloc_count;
        s2 += s->alloc_bytes;
    }
    last_live_samples = n1;
    last_alloc_samples = n2;
    w_str(&w, "heap profile: ");
    w_counts(&w, n1, s1, n2, s2);
    w_str(&w, " @ heap_v2/");
    w_uint(&w, (uint64_t)_ob_prof_rate);
    w_str(&w, "\n");
    cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        w_counts(&w, s->live_count, s->live_bytes, s->alloc_count, s->alloc_bytes);
        w_str(&w, " @");
        for (uint32_t f = 0; f < s->depth; f++) {
            w_str(&w, " ");
            w_hex(&w, (uint64_t)(uintptr_t)s->frames[f]);
        }
        w_str(&w, "\n");
    }
    /* The mappings, for the tools to find each address's object. */
    w_str(&w, "\nMAPPED_LIBRARIES:\n");
    int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (maps >= 0) {
        w_flush(&w);
        char buf[4096];
        ssize_t n;
        while ((n = read(maps, buf, sizeof buf)) > 0)
            w_bytes(&w, buf, (size_t)n);
        close(maps);
    }
    return w_close(&w);
}

/* One frame: its function's name (symbolize.c), else object+offset.  In a
 * folded stack ';' separates frames and ' ' ends the stack: neither may be
 * in a name (C++ names have spaces). */
static void w_frame(writer_t *w, void *ip, bool folded)
{
    const char *object;
    uintptr_t offset;
    const char *name = _ob_symbolize(ip, &object, &offset);
    if (name != NULL) {
        if (!folded) {
            w_str(w, name);
            return;
        }
        for (const char *c = name; *c; c++)
            w_bytes(w, *c == ';' ? ":" : *c == ' ' ? "_" : c, 1);
        return;
    }
    if (object != NULL) {
        w_str(w, object);
        w_str(w, "+");
    }
    w_hex(w, (uint64_t)offset);
}

/* Folded stacks: "outermost;...;innermost BYTES", the estimated bytes
 * (live or allocated in total) of each stack. */
static int write_folded(const char *path, const snapshot_t *snap, bool live)
{
    writer_t w;
    int err = w_open(&w, path);
    if (err != 0)
        return err;
    const char *cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        double est = live ? s->est_live_bytes : s->est_alloc_bytes;
        if ((live ? s->live_count : s->alloc_count) == 0 || est < 0.5)
            continue;
        if (s->depth == 0)
            w_str(&w, "[unknown]");
        for (uint32_t f = s->depth; f-- > 0;) {
            w_frame(&w, s->frames[f], true);
            if (f != 0)
                w_str(&w, ";");
        }
        w_str(&w, " ");
        w_uint(&w, (uint64_t)(est + 0.5));
        w_str(&w, "\n");
    }
    return w_close(&w);
}


/* With dump_lock held (one dump at a time: the symbol cache is shared). */
static int dump_locked(const char *path)
{
    bool was_in = _ob_prof_busy;
    _ob_prof_busy = true;
    int saved_errno = errno;
    snapshot_t snap;
    int err = ENOMEM;
    if (take_snapshot(&snap)) {
        char folded[4096 + 32];
        err = write_heap_profile(path, &snap);
        size_t n = ob_str_append(folded, 0, sizeof folded, path, SIZE_MAX);
        ob_str_append(folded, n, sizeof folded, ".inuse.folded", SIZE_MAX);
        int e2 = write_folded(folded, &snap, true);
        ob_str_append(folded, n, sizeof folded, ".alloc.folded", SIZE_MAX);
        int e3 = write_folded(folded, &snap, false);
        if (err == 0)
            err = e2 ? e2 : e3;
        _ob_os_unmap(snap.mem, snap.bytes);
        _ob_symbols_unnamed(unnamed_note, sizeof unnamed_note);
        _ob_symbols_release();
    }
    errno = saved_errno;
    _ob_prof_busy = was_in;
    return err;
}

int ob_prof_dump(const char *path)
{
    if (path == NULL || *path == 0)
        return EINVAL;
    ob_ensure_init();
    if (!_ob_prof_on)
        return ENOTSUP;
    _ob_lock(&dump_lock);
    int err = dump_locked(path);
    _ob_unlock(&dump_lock);
    return err;
}

/* OBMALLOC_PROF_FILE, with %p replaced by the process id; by default
 * obmalloc.PID.heap in the working directory. */
static void default_path(char *out, size_t cap)
{
    char pid[OB_FMT_MAX];
    ob_fmt_dec(pid, (uint64_t)getpid());
    const char *pattern = file_option[0] ? file_option : "obmalloc.%p.heap";
    size_t n = 0;
    for (const char *c = pattern; *c && n + 1 < cap; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            n = ob_str_append(out, n, cap, pid, SIZE_MAX);
            c++;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = 0;
}

/* A dump asked for by the signal: written by the next thread that takes a
 * sample, outside the signal handler (writing the files needs locks a
 * handler cannot take), as PATH.N.  Never from a free: a free of a huge
 * block holds the huge-block lock. */
void _ob_prof_dump_if_requested(void)
{
    if (OB_LIKELY(ob_atomic_load_relaxed(&dump_requested) == 0) || _ob_prof_busy)
        return;
    /* Inside malloc, this thread may hold the loader's lock, which a
     * dump in another thread may be waiting for (symbolize.c): never wait for
     * that dump; the request stays for the next sample. */
    if (!_ob_trylock(&dump_lock))
        return;
    if (ob_atomic_exchange_seq_cst(&dump_requested, 0) == 0) {
        _ob_unlock(&dump_lock);
        return;
    }
    char path[4096 + 32], seq[OB_FMT_MAX];
    default_path(path, sizeof path - 32);
    ob_fmt_dec(seq, ob_relaxed_add_fetch(&dump_seq, 1));
    size_t n = ob_str_append(path, strlen(path), sizeof path, ".", SIZE_MAX);
    ob_str_append(path, n, sizeof path, seq, SIZE_MAX);
    (void)dump_locked(path);
    _ob_unlock(&dump_lock);
}

static void on_dump_signal(int sig)
{
    (void)sig;
    ob_atomic_store_relaxed(&dump_requested, 1);
}

static int signal_number(const char *s)
{
    if (s == NULL || *s == 0)
        return 0;
    if (s[0] >= '0' && s[0] <= '9')
        return atoi(s);
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *name;
        int number;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},
                 {"PROF", SIGPROF}, {"URG", SIGURG},   {"WINCH", SIGWINCH}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].number;
    if (strncmp(s, "RTMIN+", 6) == 0)
        return SIGRTMIN + atoi(s + 6);
    return 0;
}

/* From start-up, once the profiler is on: where the files go, and the signal that asks for
 * one (OBMALLOC_PROF_FILE, OBMALLOC_PROF_SIGNAL). */
void _ob_prof_output_init(void)
{
    const char *f = getenv("OBMALLOC_PROF_FILE");
    if (f != NULL)
        ob_str_append(file_option, 0, sizeof file_option, f, SIZE_MAX);
    dump_signal = signal_number(getenv("OBMALLOC_PROF_SIGNAL"));
    const char *sym = getenv("OBMALLOC_PROF_SYMBOLS");
    symbols_option = sym == NULL || strcmp(sym, "0") != 0;
    if (dump_signal > 0 && dump_signal < NSIG) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_dump_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(dump_signal, &sa, NULL);
    }
}

/* After fork, in the child: a dump another thread was writing stops
 * here; its lock and the symbol cache start afresh. */
void _ob_prof_output_after_fork(void)
{
    _ob_lock_reset(&dump_lock);
    _ob_symbols_forget();
}

/* The profile of the whole run, at exit. */
static void say(const char *s) { (void)!write(STDERR_FILENO, s, strlen(s)); }

/* The profile of the whole run, at exit, and a line that says where it is
 * and how to read it: a program that frees everything before it exits
 * leaves nothing live, and pprof's default view (live bytes) of its profile
 * is empty, which looked like a broken profiler. */
__attribute__((destructor)) static void prof_at_exit(void)
{
    if (!_ob_prof_on)
        return;
    char path[4096 + 32], n[OB_FMT_MAX];
    default_path(path, sizeof path);
    if (ob_prof_dump(path) != 0 || last_alloc_samples == 0)
        return; /* no line from the many small processes of a script */
    say("obmalloc: heap profile in ");
    say(path);
    say(" (");
    ob_fmt_dec(n, last_alloc_samples);
    say(n);
    say(" samples, ");
    ob_fmt_dec(n, last_live_samples);
    say(n);
    say(" of them live at exit)\n");
    if (last_live_samples == 0 && last_alloc_samples > 0) {
        say("obmalloc: nothing sampled is live at exit: google-pprof --text --alloc_space ");
        say(symbols_option ? "" : "PROGRAM ");
        say(path);
        say(" shows what was allocated\n");
    }
    say(unnamed_note);
}
