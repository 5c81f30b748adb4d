# decar: `make` builds build/decar, `make test` runs every test, `make demo` runs the main job end to end.
CC      ?= gcc
ARCH    ?= -march=native
OPT     ?= -O2
OMP     ?= -fopenmp
CFLAGS  ?= $(OPT) $(ARCH) $(OMP) -Wall -Wextra -Wpedantic
LDLIBS  = -lm
BUILD   = build
TESTS   = test_ops test_gpt_ref test_io test_cluster test_dfm test_vision test_eval test_evidence test_method test_kernels test_interop test_device

all: $(BUILD)/decar

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/decar: examples/decar.c examples/svg.h decar.h | $(BUILD)
	$(CC) -std=c11 $(CFLAGS) -o $@ examples/decar.c $(LDLIBS)

$(BUILD)/%: tests/%.c decar.h tests/test_util.h | $(BUILD)
	$(CC) -std=c99 $(CFLAGS) -o $@ $< $(LDLIBS)

test: $(BUILD)/decar $(addprefix $(BUILD)/,$(TESTS)) $(BUILD)/bench_device
	bash tests/run_tests.sh

# the mutation check alone (make test runs it last): tests/mutate.sh's wrong changes to copies of decar.h must each
# make a unit test fail
mutate: | $(BUILD)
	bash tests/mutate.sh $(BUILD)

$(BUILD)/bench_device: bench/bench_device.c bench/clock.h decar.h | $(BUILD)
	$(CC) -std=c99 $(CFLAGS) -o $@ $< $(LDLIBS)

# the CUDA build (DECAR_USE_CUDA): the implementation compiled by nvcc, linked with cuBLAS; the CLI, test_device and
# bench_device on top. Host code is compiled with warnings as errors. -mavx2 -mfma rather than -march=native: gcc 12's
# AVX-512 headers warn (maybe-uninitialized) when nvcc hands them to it.
NVCC      ?= nvcc
CUDA_HOST ?= -O2 -mavx2 -mfma -fopenmp -Wall -Wextra -Werror
NVFLAGS   ?= -O2 -DDECAR_USE_CUDA -Werror all-warnings -Xcompiler "$(CUDA_HOST)"
cuda: $(BUILD)/decar-cuda $(BUILD)/test_device_cuda $(BUILD)/bench_device_cuda

$(BUILD)/impl_cuda.o: decar.h | $(BUILD)
	printf '#define DECAR_IMPLEMENTATION\n#include "../decar.h"\n' > $(BUILD)/impl_cuda.cu
	$(NVCC) $(NVFLAGS) -c -o $@ $(BUILD)/impl_cuda.cu

$(BUILD)/decar-cuda: examples/decar.c examples/svg.h $(BUILD)/impl_cuda.o
	$(CC) -std=c11 $(OPT) -fopenmp -Wall -Wextra -Wpedantic -Werror -DDECAR_CLI_EXTERNAL_IMPL -c -o $(BUILD)/decar_cli.o examples/decar.c
	$(NVCC) -o $@ $(BUILD)/decar_cli.o $(BUILD)/impl_cuda.o -lcublas -Xcompiler -fopenmp

$(BUILD)/test_device_cuda: tests/test_device.c tests/test_util.h decar.h | $(BUILD)
	$(NVCC) $(NVFLAGS) -x cu -o $@ $< -lcublas

$(BUILD)/bench_device_cuda: bench/bench_device.c bench/clock.h decar.h | $(BUILD)
	$(NVCC) $(NVFLAGS) -x cu -o $@ $< -lcublas

$(BUILD)/mkbad: tests/mkbad.c decar.h | $(BUILD)
	$(CC) -std=c99 -O1 -o $@ tests/mkbad.c $(LDLIBS)

# the libFuzzer targets over every parser of untrusted input, longer than make test runs them
FUZZ_SECONDS ?= 300
fuzz:
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

demo: $(BUILD)/decar
	bash scripts/demo.sh

# the ensemble / dense ratio against training compute, paired 95% intervals, 3 seeds, R1 / R3 / R4' and the oracle,
# the dense batch and batch / K (scripts/scaling.sh says what it trains)
scaling: $(BUILD)/decar
	bash scripts/scaling.sh

demo-vision: $(BUILD)/decar
	bash scripts/pipeline_vision.sh

# the vision line of the scaling study: image-conditioned experts / dense captioner against training compute, paired
# 95% intervals over held-out images and 3 seeds, encoder clusters and a random split, R1 / R2 / R5 and the oracle
vision-scaling: $(BUILD)/decar
	bash scripts/vision_scaling.sh

bench: $(BUILD)/decar
	bash -o pipefail -c 'bash bench/run_bench.sh | tee $(BUILD)/bench.txt'
	python3 bench/targets.py $(BUILD)/bench.txt

clean:
	rm -rf $(BUILD)

# make install PREFIX=/usr/local: the header, the CLI, a pkg-config file and a CMake package (find_package(decar))
PREFIX  ?= /usr/local
VERSION := $(shell sed -n 's/^\#define DECAR_VERSION "\(.*\)"/\1/p' decar.h)
install: $(BUILD)/decar
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/lib/cmake/decar
	install -m 644 decar.h $(DESTDIR)$(PREFIX)/include/decar.h
	install -m 755 $(BUILD)/decar $(DESTDIR)$(PREFIX)/bin/decar
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' cmake/decar.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/decar.pc
	sed -e 's|@VERSION@|$(VERSION)|' cmake/decarConfig.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/decar/decarConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|' cmake/decarConfigVersion.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/decar/decarConfigVersion.cmake

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/decar.h $(DESTDIR)$(PREFIX)/bin/decar $(DESTDIR)$(PREFIX)/lib/pkgconfig/decar.pc
	rm -rf $(DESTDIR)$(PREFIX)/lib/cmake/decar

.PHONY: all test mutate fuzz demo scaling demo-vision vision-scaling bench cuda clean install uninstall
