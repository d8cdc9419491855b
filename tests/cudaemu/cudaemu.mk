# The CUDA emulator (tests/cudaemu/README.md): libcommon/cuda/*.cu compiled
# as C++ for the CPU against emulated CUDA runtime, cuBLAS, cuDNN and NCCL,
# as lib/libsarface-cuda-emu.so (build/san/lib/... under SAN=1, sanitized
# like the tests). `make test-cuda-emu` runs every test program's `cuda`
# suite on it (LC_CUDA_LIB names it to the backend's loader). Needs only the
# CUDA toolkit's headers, so it is built wherever nvcc is found.
EMU_DIR := $(BUILD)/cudaemu
EMU_SO := $(LIBDIR)/libsarface-cuda-emu.so
EMU_CXX ?= g++
EMU_CXXFLAGS := -std=c++17 -O2 -g -fPIC -fvisibility=hidden -ffp-contract=off -Wall -Wno-sign-compare -Wno-deprecated-declarations -Wno-unknown-pragmas \
                $(SANFLAGS) $(if $(SANFLAGS),-fno-omit-frame-pointer -fno-sanitize-recover=undefined) \
                -I$(EMU_DIR)/libcommon/cuda -Ilibcommon/cuda -Ilibcommon -Itests/cudaemu -I$(CUDA_HOME)/include
EMU_CU_SRC := $(wildcard libcommon/cuda/*.cu) $(wildcard libcommon/cuda/*.cuh)
EMU_REWRITTEN := $(EMU_CU_SRC:%=$(EMU_DIR)/%)
EMU_OBJ := $(patsubst %.cu,$(EMU_DIR)/%.o,$(wildcard libcommon/cuda/*.cu)) \
           $(patsubst tests/cudaemu/%.cpp,$(EMU_DIR)/emu/%.o,$(wildcard tests/cudaemu/*.cpp))

# the launches rewritten (line numbers kept; #line names the source)
$(EMU_DIR)/libcommon/cuda/%: libcommon/cuda/% tests/cudaemu/rewrite.pl
	@mkdir -p $(@D)
	perl tests/cudaemu/rewrite.pl $< >$@.tmp && mv $@.tmp $@

$(EMU_DIR)/libcommon/cuda/%.o: $(EMU_DIR)/libcommon/cuda/%.cu $(EMU_REWRITTEN) tests/cudaemu/emu.h
	$(EMU_CXX) $(EMU_CXXFLAGS) -MMD -MP -include tests/cudaemu/emu.h -x c++ -c $< -o $@

$(EMU_DIR)/emu/%.o: tests/cudaemu/%.cpp tests/cudaemu/emu.h tests/cudaemu/emu_internal.h
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_CXXFLAGS) -MMD -MP -c $< -o $@

$(EMU_DIR)/err.o: libcommon/err.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# -z defs: every CUDA call the .cu files make must be emulated
$(EMU_SO): $(EMU_OBJ) $(EMU_DIR)/err.o
	@mkdir -p $(@D)
	$(EMU_CXX) -shared $(SANFLAGS) -Wl,-z,defs -o $@ $^ -lopenblas -pthread

# the emulator's own checks (selftest.cu), compiled as the .cu files are
EMU_RUNTIME_OBJ := $(filter $(EMU_DIR)/emu/%,$(EMU_OBJ))
$(EMU_DIR)/selftest.cu: tests/cudaemu/selftest.cu tests/cudaemu/rewrite.pl
	@mkdir -p $(@D)
	perl tests/cudaemu/rewrite.pl $< >$@.tmp && mv $@.tmp $@

$(EMU_DIR)/selftest: $(EMU_DIR)/selftest.cu $(EMU_RUNTIME_OBJ) tests/cudaemu/emu.h tests/cudaemu/check.h
	$(EMU_CXX) $(EMU_CXXFLAGS) -include tests/cudaemu/emu.h -x c++ -c $< -o $@.o
	$(EMU_CXX) $(SANFLAGS) -o $@ $@.o $(EMU_RUNTIME_OBJ) -lopenblas -pthread

# the packed channels-last sums against one channel a thread, as the double
# partials they write (sums_order.cu: ops.cu compiled into it, for its
# static kernels; the emulator's other objects beside it)
EMU_NOT_OPS := $(filter-out $(EMU_DIR)/libcommon/cuda/ops.o,$(EMU_OBJ))
$(EMU_DIR)/sums_order.cu: tests/cudaemu/sums_order.cu tests/cudaemu/rewrite.pl
	@mkdir -p $(@D)
	perl tests/cudaemu/rewrite.pl $< >$@.tmp && mv $@.tmp $@

$(EMU_DIR)/sums_order: $(EMU_DIR)/sums_order.cu $(EMU_REWRITTEN) $(EMU_NOT_OPS) $(EMU_DIR)/err.o tests/cudaemu/emu.h \
                       tests/cudaemu/check.h
	$(EMU_CXX) $(EMU_CXXFLAGS) -include tests/cudaemu/emu.h -x c++ -c $< -o $@.o
	$(EMU_CXX) $(SANFLAGS) -o $@ $@.o $(EMU_NOT_OPS) $(EMU_DIR)/err.o -lopenblas -pthread

-include $(EMU_OBJ:.o=.d)

# Under the sanitizers the IR-18 suites (test_ir, test_embed: most of the
# release run's 7 minutes on 2 cores) are left to the release run.
EMU_TESTS := $(if $(SANFLAGS),$(filter-out %/test_ir %/test_embed,$(TESTS)),$(TESTS))

# (sums_order: release only; under the sanitizers UBSan reports a null
# load of the emulator's thread-local thread index in that executable,
# which neither the library nor selftest shows, with ASan alone it passes)
EMU_SUMS_ORDER := $(if $(SANFLAGS),,$(EMU_DIR)/sums_order)

.PHONY: test-cuda-emu
test-cuda-emu: $(EMU_SO) $(EMU_TESTS) $(EMU_DIR)/selftest $(EMU_SUMS_ORDER)
	@for streams in coin late early; do LC_CUDA_EMU_STREAMS=$$streams $(EMU_DIR)/selftest || exit 1; done
	$(if $(EMU_SUMS_ORDER),@$(EMU_SUMS_ORDER))
	@LC_CUDA_LIB=$(abspath $(EMU_SO)) tests/run-cuda-emu.sh $(EMU_TESTS)
