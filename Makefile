# The README's commands.  Everything is built with CMake into build/.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

PREFIX ?= /usr/local

# CPython 3.13.5's source, for the free-threaded interpreters (issue 27);
# their builds are cached outside the clone, keyed by what goes into them.
CPYTHON_TARBALL ?= ../shared/cpython/python3.13_3.13.5.orig.tar.xz
CPYTHON_CACHE ?= $(HOME)/.cache/obmalloc/cpython-ft

.PHONY: all build deps run test python-ft obpython-ft bench bench-mibench bench-pyperformance bench-hardening bench-scaling fuzz install clean

all: build

deps:
	@tools/deps.sh

$(BUILD)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The build's output goes to a log, shown only when it fails.
run: deps
	@mkdir -p $(BUILD)
	@echo "make run: building (output in $(BUILD)/build.log)"
	@$(MAKE) --no-print-directory build >$(BUILD)/build.log 2>&1 || { \
	  tail -n 30 $(BUILD)/build.log; \
	  echo "make run: the build failed; its whole output is in $(BUILD)/build.log"; exit 1; }
	@BUILD=$(BUILD) python3 examples/run_demo.py

# With CPython's source tarball at hand, the free-threaded interpreter on
# obmalloc is built (once per machine: cached) for its tests.
OBPYTHON_FT_IF_SOURCE := $(if $(wildcard $(CPYTHON_TARBALL)),obpython-ft)
test: build $(OBPYTHON_FT_IF_SOURCE)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Free-threaded CPython 3.13 from its source tarball (issue 27), built
# outside the clone (cached by the tarball's and the build's hashes):
# build/python-ft is the stock build, with its own mimalloc.
python-ft: deps
	tools/cpython_ft.sh stock "$(CPYTHON_TARBALL)" "$(CPYTHON_CACHE)" $(BUILD)/python-ft
# ...and build/obpython-ft, the same source on obmalloc (obpython-ft/).
obpython-ft: build
	tools/cpython_ft.sh ob "$(CPYTHON_TARBALL)" "$(CPYTHON_CACHE)" $(BUILD)/obpython-ft $(BUILD) .

BENCH_ARGS ?=

# Results go to $(BUILD)/bench-results, outside what git tracks;
# BENCH_OUT=bench/results updates the committed ones, which
# docs/BENCHMARKS.md quotes.
BENCH_OUT ?= $(BUILD)/bench-results
bench: build
	@echo "make bench: results in $(BENCH_OUT)/ (BENCH_OUT=bench/results updates the committed ones)"
	OUT=$(BENCH_OUT) bench/run.sh
	python3 bench/suite.py --out $(BENCH_OUT) $(BENCH_ARGS)

# mimalloc-bench's own programs, built outside the clone from a checkout of
# its public repository (never committed here), then the suite's mb-* rows
# with every allocator: make bench-mibench MIBENCH_SRC=/path/to/mimalloc-bench
MIBENCH_DIR ?= $(HOME)/.cache/obmalloc/mimalloc-bench
bench-mibench: build
	@test -n "$(MIBENCH_SRC)" || { echo "make bench-mibench: set MIBENCH_SRC to a mimalloc-bench checkout (or its git directory)"; exit 2; }
	bench/mibench/build.sh "$(MIBENCH_SRC)" "$(MIBENCH_DIR)"
	python3 bench/suite.py --mibench "$(MIBENCH_DIR)" --workloads $$(python3 bench/suite.py --list-mibench "$(MIBENCH_DIR)") $(BENCH_ARGS)

# pyperformance's pure-Python benchmarks under pyperf: python3 (pymalloc),
# obpython and python3 on the drop-in, from checkouts of pyperformance and
# pyperf (copied to ~/.cache/obmalloc/pyperformance, never committed):
# make bench-pyperformance PYPERFORMANCE_SRC=... PYPERF_SRC=...
bench-pyperformance: build
	@test -n "$(PYPERFORMANCE_SRC)" -a -n "$(PYPERF_SRC)" || { echo "make bench-pyperformance: set PYPERFORMANCE_SRC and PYPERF_SRC to checkouts (or git directories) of pyperformance and pyperf"; exit 2; }
	python3 bench/pyperf/run.py --pyperformance "$(PYPERFORMANCE_SRC)" --pyperf "$(PYPERF_SRC)" $(BENCH_ARGS)

# Throughput against threads (1..16) for the larson and xmalloc shapes,
# every allocator: bench/results/scaling.{md,csv,png}.
bench-scaling: build
	python3 bench/scaling.py $(BENCH_ARGS)

# What normal mode's hardening costs: obmalloc against itself built with
# OB_HARDENED=0 (no link encoding, no checks of links and freed pointers).
bench-hardening: build
	cmake -S . -B $(BUILD)-unhardened -DCMAKE_BUILD_TYPE=Release -DOB_TESTS=OFF \
	  -DCMAKE_C_FLAGS=-DOB_HARDENED=0 >/dev/null
	cmake --build $(BUILD)-unhardened -j $(JOBS) --target obmalloc_shared >/dev/null
	bench/instructions.sh hardened=$(BUILD)/libobmalloc.so \
	  unhardened=$(BUILD)-unhardened/libobmalloc.so | tee bench/results/hardening/instructions.md
	python3 bench/suite.py --allocators obmalloc --out bench/results/hardening \
	  --variant unhardened=$(BUILD)-unhardened/libobmalloc.so $(BENCH_ARGS)

# The fuzzer for as long as asked (seconds), both threads of the machine:
# make fuzz FUZZ_TIME=3600.  Crashes land in build/fuzz/crash-*.
FUZZ_TIME ?= 600
FUZZ_JOBS ?= $(JOBS)
fuzz: build
	tests/fuzz/run.sh $(BUILD)/fuzz_ops tests/fuzz $(BUILD)/fuzz $(FUZZ_TIME) \
	  -jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
