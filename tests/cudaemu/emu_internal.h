// emu_internal: what the CUDA emulator's units share (tests/cudaemu/README.md)
#ifndef LC_CUDAEMU_INTERNAL_H
#define LC_CUDAEMU_INTERNAL_H

#include <stddef.h>

// report a misuse a GPU would punish (an illegal address, a stuck block) and abort
[[noreturn]] void emu_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// 1: the bytes at p lie inside one device allocation; 0: p is in none; -1: they run past its end
int emu_device_range(const void *p, size_t bytes);
// the emulated device count (LC_CUDA_EMU_DEVICES, default 1)
int emu_devices(void);

#endif
