# Convenience entry points; CMake + Ninja do the real work.
#   make run        build, then start the gateway with an example function
#   make demo       build, then run the example modules through the CLI
#   make test       build in build/ and run every test (ctest -j2)
#   make test-asan  the same in build-asan/ with ASan + UBSan
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
CMAKE_ARGS ?=
CTEST_ARGS ?= --output-on-failure -j2

CLI := $(BUILD_DIR)/tensor-wasm
EXAMPLE := $(BUILD_DIR)/examples/add.wasm

.PHONY: all bootstrap build run demo test test-asan clean

all: build

bootstrap:
	@./scripts/bootstrap

build: bootstrap
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR)

run: build
	./scripts/run-gateway

# The CLI on the example modules (what `make run` did before the gateway).
demo: build
	$(CLI) version
	$(CLI) validate $(EXAMPLE)
	$(CLI) run $(EXAMPLE) --invoke add 2 40
	$(CLI) run $(EXAMPLE) --invoke fac 20
	$(CLI) run $(BUILD_DIR)/examples/hello.wasm

test: build
	cd $(BUILD_DIR) && ctest $(CTEST_ARGS)

test-asan: bootstrap
	cmake -S . -B $(ASAN_DIR) -G Ninja -DTW_SANITIZE=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)
	cmake --build $(ASAN_DIR)
	cd $(ASAN_DIR) && ctest $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
