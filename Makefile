# SARFace toolkit: one non-recursive Makefile.
#   make            build every tool into bin/ (CUDA too when nvcc is found)
#   make test       install missing system packages (as root), build, run all tests
#                   (with nvcc: the cuda suites too, on the CUDA emulator, tests/cudaemu)
#   make demo       run the main job on the bundled default (workflows/demo.mk)
#   make tour       a tour of the data formats on a tiny sample (scripts/tour-formats)
#   make SAN=1 ...  ASan+UBSan build under build/san/   (DEBUG=1: -O0 -g)
#   make CUDA=0     force the CPU-only build
#   make fuzz       build the libFuzzer targets with clang and run each briefly
#   make bench      run the benchmarks in bench/
#   make gpu-check  build with CUDA, run the GPU tests, print one summary
# Targets: all test test-unit test-e2e test-python test-cuda test-cuda-emu demo fuzz bench gpu-check clean

SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

SAN ?= 0
DEBUG ?= 0
CUDA ?= auto

ifeq ($(SAN),1)
VARIANT := san
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANFLAGS := -fsanitize=address,undefined
else ifeq ($(DEBUG),1)
VARIANT := debug
OPT := -O0 -g
else
VARIANT := release
# GCC 12's -O2 vectorises only loops that need no runtime checks or
# remainder code ("very cheap"); the dynamic cost model (-O3's) vectorises
# the elementwise passes too: batch norm + PReLU forward 6.9% -> 1.1% of an
# IR-18 training step. -fno-trapping-math lets selects (x > 0 ? a : b) be
# if-converted; nothing here enables FP traps. Results are unchanged: no
# reassociation, and no FMA contraction under -std=c11.
OPT := -O2 -g -fvect-cost-model=dynamic -fno-trapping-math
endif

BUILD := build/$(VARIANT)
# `make` puts tools in bin/; other variants keep theirs beside their objects.
BIN := $(if $(filter release,$(VARIANT)),bin,$(BUILD)/bin)

# --- CUDA detection (llm.c style: probe, say what was found, allow override)
NVCC :=
ifneq ($(CUDA),0)
NVCC := $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
endif
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc was not found on PATH or in /usr/local/cuda/bin)
endif
endif
CUDA_HOME := $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(realpath $(NVCC))))

CPPFLAGS := -Ilibcommon -D_GNU_SOURCE -MMD -MP
CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wno-missing-field-initializers $(OPT) -pthread -fopenmp
LDFLAGS := $(SANFLAGS) -pthread -fopenmp
LDLIBS := -larchive -lcsv -ljansson -lopenblas -lisal -lpng -ljpeg -lz -lm

LIB_SRC := $(wildcard libcommon/*.c)
# The CUDA backend is a shared library that libcommon loads with dlopen on
# first use, so CPU runs never load cuDNN/cuBLAS/NCCL (hundreds of MB).
LIBDIR := $(if $(filter release,$(VARIANT)),lib,$(BUILD)/lib)
CUDA_SO :=
CU_SRC :=
ifneq ($(NVCC),)
CU_SRC := $(wildcard libcommon/cuda/*.cu)
CUDA_SO := $(LIBDIR)/libsarface-cuda.so
CPPFLAGS += -DLC_CUDA
# sm_80 and sm_90 machine code, plus PTX so newer cards can JIT it.
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
# --fmad=false: no contraction of a*b+c in our kernels, as the CPU (c11)
# and the CUDA emulator compute; the kernels that must match the CPU bit
# for bit write their rounding out (__fmul_rn, __fadd_rn), and the rest
# then match the emulator's run of them too. cuDNN and cuBLAS keep theirs.
NVCCFLAGS := -O2 -std=c++17 --fmad=false $(NVCC_ARCH) -Xcompiler -fPIC,-fvisibility=hidden,-Wall -Ilibcommon
CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -Xlinker -rpath,$(CUDA_LIBDIR) -lcudnn -lnccl -lcublas -lcudart
$(BUILD)/libcommon/backend.o: CPPFLAGS += -DLC_CUDA_LIB_DEFAULT='"$(abspath $(CUDA_SO))"'
endif
ifeq ($(MAKELEVEL),0)
$(info CUDA: $(if $(NVCC),on ($(NVCC)); GPU code in $(CUDA_SO),off - CPU only))
endif

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CU_OBJ := $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
LIB := $(BUILD)/libcommon.a

TOOL_SRC := $(wildcard tools/*.c)
TOOLS := $(TOOL_SRC:tools/%.c=$(BIN)/%)

TEST_SRC := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-unit test-e2e test-python test-cuda demo tour deps fuzz bench gpu-check clean
.DEFAULT_GOAL := all

all: $(TOOLS) $(CUDA_SO)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

# The .so carries its own (hidden) copy of the error helpers it calls.
$(BUILD)/libcommon/err.pic.o: libcommon/err.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(CUDA_SO): $(CU_OBJ) $(BUILD)/libcommon/err.pic.o
	@mkdir -p $(@D)
	$(NVCC) -shared $(NVCC_ARCH) -o $@ $^ $(CUDA_LDLIBS)

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN)/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB) | $(CUDA_SO)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

# test_comm_nccl runs comm.c against a simulated NCCL: the backend calls comm.c makes go to the test's stand-ins
COMM_FAKES := lc_nccl_init lc_nccl_poll lc_nccl_allreduce lc_nccl_broadcast lc_nccl_finalize lc_nccl_free \
              lc_nccl_device lc_gpu_event_new lc_gpu_event_free lc_gpu_event_record lc_gpu_event_done \
              lc_gpu_stream_new lc_gpu_stream_free lc_gpu_stream_wait lc_device_open lc_device_thread_release
$(BUILD)/tests/test_comm_nccl: LDFLAGS += $(foreach f,$(COMM_FAKES),-Wl,--wrap=$(f))
# test_graph runs graph.c against stand-ins of the backend's capture calls
GRAPH_FAKES := lc_gpu_capture_begin lc_gpu_capture_end lc_gpu_graph_launch lc_gpu_graph_free lc_gpu_scratch_epoch
$(BUILD)/tests/test_graph: LDFLAGS += $(foreach f,$(GRAPH_FAKES),-Wl,--wrap=$(f))

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- tests
deps:
	@scripts/install-deps

test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@$(MAKE) --no-print-directory test-unit test-e2e test-python $(if $(NVCC),test-cuda-emu)

# Unit tests (Criterion) run from the repository root so fixtures resolve.
test-unit: $(TESTS)
	@tests/run-unit.sh $(TESTS)

test-e2e: $(TOOLS)
	@LC_BIN=$(abspath $(BIN)) tests/run-e2e.sh

test-python: $(TOOLS)
	@LC_BIN=$(abspath $(BIN)) PYTHON=$(PYTHON) tests/python/run.sh

# GPU tests: the CUDA suites skip with a message where no GPU is present.
test-cuda: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t (cuda)"; $$t --filter='cuda/*' --verbose=1; done

gpu-check:
	@scripts/gpu-check

demo: deps all
	@$(MAKE) --no-print-directory -f workflows/demo.mk BIN=$(BIN) demo

tour: deps all
	@LC_BIN=$(abspath $(BIN)) scripts/tour-formats

# --- fuzzing (clang + libFuzzer): FUZZ_SECONDS per target
FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_LIB_SRC := $(LIB_SRC)
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -Ilibcommon -D_GNU_SOURCE

$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_LIB_SRC) $(wildcard libcommon/*.h)
	@mkdir -p $(FUZZ_DIR)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRC) -larchive -lcsv -ljansson -lopenblas -lisal -lpng -ljpeg -lz -lm -pthread

fuzz: $(FUZZERS) all
	@LC_BIN=$(abspath $(BIN)) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZERS)

bench: all $(BENCHES)
	@LC_BIN=$(abspath $(BIN)) BENCH_BIN=$(abspath $(BUILD)/bench) LC_BENCH_DIR=$(abspath bench) bench/run.sh

clean:
	rm -rf build bin lib

# the CUDA emulator: the .cu files run on the CPU (tests/cudaemu/README.md)
ifneq ($(NVCC),)
include tests/cudaemu/cudaemu.mk
endif

-include $(LIB_OBJ:.o=.d) $(CU_OBJ:.o=.d) $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.d) $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.d) $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%.d)
.SECONDARY: $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o) $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o) $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%.o)
