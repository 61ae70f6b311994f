// C++ on obmalloc: new/delete (plain, array, sized, aligned), std::string,
// std::map and std::vector churn across threads, thread_local destructors.
#include <dlfcn.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c)) {                                                          \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            std::exit(1);                                                    \
        }                                                                    \
    } while (0)

struct alignas(256) Wide {
    char bytes[300];
};

thread_local std::string tls_text(1000, 't'); // destroyed as each thread exits

static void churn(int seed, std::vector<std::string *> *handoff)
{
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++) {
        std::string key = "key-" + std::to_string((i * 7919 + seed) % 5000);
        m[key].push_back(i);
        if (i % 3 == 0)
            m.erase("key-" + std::to_string((i * 31) % 5000));
    }
    size_t total = 0;
    for (auto &kv : m)
        total += kv.second.size();
    CHECK(total > 0);
    for (int i = 0; i < 2000; i++)
        handoff->push_back(new std::string(100 + i % 50, char('a' + i % 26)));
    tls_text += "x";
}

int main()
{
    CHECK(dlsym(RTLD_DEFAULT, "ob_version") != nullptr);
    int *one = new int(42);
    // obmalloc's smallest class (debug mode: the size asked for)
    const char *debug = getenv("OBMALLOC_DEBUG");
    CHECK(malloc_usable_size(one) == (debug && *debug == '1' ? sizeof(int) : 16));
    delete one;
    int *arr = new int[1000];
    delete[] arr;
    Wide *w = new Wide;
    CHECK(reinterpret_cast<uintptr_t>(w) % 256 == 0);
    delete w;
    auto sp = std::make_shared<std::vector<double>>(10000, 1.5);
    CHECK((*sp)[9999] == 1.5);

    // Threads build strings that other threads (here: main) delete.
    for (int round = 0; round < 5; round++) {
        std::vector<std::string *> handoff[4];
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; t++)
            threads.emplace_back(churn, t + round * 4, &handoff[t]);
        for (auto &t : threads)
            t.join();
        for (auto &h : handoff)
            for (auto *s : h) {
                CHECK(s->size() >= 100);
                delete s;
            }
    }
    std::printf("c++: new/delete, strings, maps and threads on obmalloc\n");
    return 0;
}
