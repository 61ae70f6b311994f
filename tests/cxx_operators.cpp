// C++17's replaceable allocation operators, every form, served by obmalloc
// (src/new_delete.c).  Built twice: linked with libobmalloc.a
// (cxx_operators_static) and run on the drop-in (cxx_operators_dropin).
//
// What it proves:
//  - each of the 20 forms hands out (or takes back) an obmalloc block: the
//    operator's address is obmalloc's, and the block passes ob_check_block;
//  - aligned forms honour alignments from 16 bytes to 1 MiB;
//  - sized delete reaches obmalloc's sized free (a wrong size is reported);
//  - failure: std::bad_alloc for an impossible size, the new-handler called
//    and retried as the standard says, an exception thrown by the handler
//    passing through, the nothrow forms returning nullptr;
//  - blocks made by one thread and deleted by another with sized delete.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#ifdef OB_TEST_STATIC
#include "obmalloc.h"
#endif

#define CHECK(c)                                                                        \
    do {                                                                                \
        if (!(c)) {                                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            std::exit(1);                                                               \
        }                                                                               \
    } while (0)

// obmalloc's own API, found at run time: the drop-in variant is built
// against the C library only.
using check_block_fn = size_t (*)(const void *);
static check_block_fn ob_check;

static bool from_obmalloc(const void *fn)
{
    Dl_info info;
    if (dladdr(fn, &info) == 0 || info.dli_fname == nullptr)
        return false;
#ifdef OB_TEST_STATIC
    // Linked in: the operator sits in this program, not in libstdc++.
    return std::strstr(info.dli_fname, "libstdc++") == nullptr;
#else
    return std::strstr(info.dli_fname, "libobmalloc") != nullptr;
#endif
}

static void check_block(const void *p, size_t size, size_t align)
{
    CHECK(p != nullptr);
    CHECK((uintptr_t)p % align == 0);
    CHECK(ob_check(p) >= size); // aborts with a report if p is not obmalloc's
    std::memset(const_cast<void *>(p), 0x5a, size);
}

static void every_form()
{
    CHECK(from_obmalloc((void *)static_cast<void *(*)(size_t)>(&::operator new)));
    CHECK(from_obmalloc((void *)static_cast<void *(*)(size_t)>(&::operator new[])));
    CHECK(from_obmalloc((void *)static_cast<void (*)(void *, size_t)>(&::operator delete)));
    CHECK(from_obmalloc(
        (void *)static_cast<void *(*)(size_t, std::align_val_t)>(&::operator new)));
    CHECK(from_obmalloc(
        (void *)static_cast<void (*)(void *, size_t, std::align_val_t)>(&::operator delete[])));

    const size_t sizes[] = {0, 1, 16, 100, 1000, 20000, 300000, 3u << 20};
    for (size_t size : sizes) {
        void *p;
        p = ::operator new(size); check_block(p, size, 16); ::operator delete(p);
        p = ::operator new(size); check_block(p, size, 16); ::operator delete(p, size);
        p = ::operator new[](size); check_block(p, size, 16); ::operator delete[](p);
        p = ::operator new[](size); check_block(p, size, 16); ::operator delete[](p, size);
        p = ::operator new(size, std::nothrow); check_block(p, size, 16);
        ::operator delete(p, std::nothrow);
        p = ::operator new[](size, std::nothrow); check_block(p, size, 16);
        ::operator delete[](p, std::nothrow);
        for (size_t a = 16; a <= (size_t)1 << 20; a <<= 2) {
            std::align_val_t al{a};
            p = ::operator new(size, al); check_block(p, size, a); ::operator delete(p, al);
            p = ::operator new(size, al); check_block(p, size, a); ::operator delete(p, size, al);
            p = ::operator new[](size, al); check_block(p, size, a); ::operator delete[](p, al);
            p = ::operator new[](size, al); check_block(p, size, a);
            ::operator delete[](p, size, al);
            p = ::operator new(size, al, std::nothrow); check_block(p, size, a);
            ::operator delete(p, al, std::nothrow);
            p = ::operator new[](size, al, std::nothrow); check_block(p, size, a);
            ::operator delete[](p, al, std::nothrow);
        }
    }
    // Zero bytes: distinct, non-null.
    void *z1 = ::operator new(0), *z2 = ::operator new(0);
    CHECK(z1 != nullptr && z2 != nullptr && z1 != z2);
    ::operator delete(z1, (size_t)0);
    ::operator delete(z2);
}

// What new-expressions choose: an over-aligned type goes to the aligned
// forms (C++17), and its sized delete to the sized aligned one.
struct alignas(4096) Page {
    char bytes[5000];
};
struct Node {
    Node *next;
    std::string name;
};

static void expressions()
{
    Page *pg = new Page;
    check_block(pg, sizeof *pg, 4096);
    delete pg;
    Page *pages = new Page[3];
    check_block(pages, 3 * sizeof(Page), 4096);
    delete[] pages;
    Node *head = nullptr;
    for (int i = 0; i < 10000; i++)
        head = new Node{head, "node number " + std::to_string(i)};
    while (head != nullptr) {
        Node *n = head->next;
        delete head;
        head = n;
    }
}

// ---- failure -------------------------------------------------------------

static const size_t impossible = SIZE_MAX / 2;
static int handler_calls;

static void handler_gives_up()
{
    handler_calls++;
    std::set_new_handler(nullptr); // the next failure throws
}

struct handler_error : std::bad_alloc {
};
static void handler_throws()
{
    handler_calls++;
    throw handler_error();
}

static void failure()
{
    bool thrown = false;
    try {
        (void)::operator new(impossible);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown);
    thrown = false;
    try {
        (void)::operator new[](impossible, std::align_val_t{4096});
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown);
    CHECK(::operator new(impossible, std::nothrow) == nullptr);
    CHECK(::operator new[](impossible, std::align_val_t{64}, std::nothrow) == nullptr);

    // The handler is called, then the allocation retried; once it removes
    // itself, bad_alloc.
    handler_calls = 0;
    std::set_new_handler(handler_gives_up);
    thrown = false;
    try {
        (void)::operator new(impossible);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1);
    handler_calls = 0;
    std::set_new_handler(handler_gives_up);
    CHECK(::operator new(impossible, std::nothrow) == nullptr && handler_calls == 1);
    handler_calls = 0;
    std::set_new_handler(handler_gives_up);
    thrown = false;
    try {
        (void)::operator new(impossible, std::align_val_t{256});
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1);

    // A handler's own exception passes through operator new.
    handler_calls = 0;
    std::set_new_handler(handler_throws);
    thrown = false;
    try {
        (void)::operator new[](impossible);
    } catch (const handler_error &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1);
    std::set_new_handler(nullptr);

    // Still working afterwards.
    void *p = ::operator new(100);
    check_block(p, 100, 16);
    ::operator delete(p, 100);
}

// ---- sized delete reaches the sized free ----------------------------------

static void sized_delete_is_checked()
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        void *p = ::operator new(16);
        ::operator delete(p, (size_t)5000); // larger than the block: a bug
        _exit(0);
    }
    close(fds[1]);
    char report[4096] = {0};
    size_t got = 0;
    ssize_t n;
    while (got + 1 < sizeof report && (n = read(fds[0], report + got, sizeof report - 1 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(std::strstr(report, "sized free with a wrong size") != nullptr);
}

// ---- threads -------------------------------------------------------------

static void cross_thread()
{
    for (int round = 0; round < 4; round++) {
        std::vector<std::pair<void *, size_t>> made;
        std::thread maker([&made] {
            for (size_t i = 0; i < 20000; i++) {
                size_t size = 8 + (i * 37) % 2000;
                void *p = i % 3 ? ::operator new(size) : ::operator new(size, std::align_val_t{64});
                std::memset(p, (int)i, size);
                made.emplace_back(p, size);
            }
        });
        maker.join();
        std::thread deleter([&made] {
            size_t i = 0;
            for (auto &m : made) {
                if (i++ % 3)
                    ::operator delete(m.first, m.second);
                else
                    ::operator delete(m.first, m.second, std::align_val_t{64});
            }
        });
        deleter.join();
    }
}

int main()
{
#ifdef OB_TEST_STATIC
    ob_check = ob_check_block;
#else
    ob_check = (check_block_fn)dlsym(RTLD_DEFAULT, "ob_check_block");
#endif
    CHECK(ob_check != nullptr);
    every_form();
    expressions();
    failure();
    sized_delete_is_checked();
    cross_thread();
    std::printf("cxx_operators: ok\n");
    return 0;
}
