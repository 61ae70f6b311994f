# The README's commands.  Everything is built with CMake into build/.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

PREFIX ?= /usr/local

.PHONY: all build deps run test bench install clean

all: build

deps:
	@tools/deps.sh

$(BUILD)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@python3 examples/run_demo.py

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

BENCH_ARGS ?=

bench: build
	bench/run.sh
	python3 bench/suite.py $(BENCH_ARGS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
