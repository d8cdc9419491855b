// emu_internal: what the CUDA emulator's units share (tests/cudaemu/README.md)
#ifndef LC_CUDAEMU_INTERNAL_H
#define LC_CUDAEMU_INTERNAL_H

#include <cuda_runtime.h>
#include <stddef.h>

#include <functional>

// report a misuse a GPU would punish (an illegal address, a stuck block) and abort
[[noreturn]] void emu_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// 1: the bytes at p lie inside one device allocation; 0: p is in none; -1: they run past its end
int emu_device_range(const void *p, size_t bytes);
// the emulated device count (LC_CUDA_EMU_DEVICES, default 1)
int emu_devices(void);
// the calling thread's current device
int emu_current_device(void);
// fatal where p lies in memory allocated on another device than device
// (who uses it: a printf format, formatted only then)
void emu_check_device(const void *p, int device, const char *who, ...) __attribute__((format(printf, 3, 4)));

// a place in a stream's work: after its first seq entries (stream NULL: none)
struct emu_pos {
    void *stream;
    unsigned long seq;
};
// issue work on a stream (emu_enqueue), saying where it lies
emu_pos emu_enqueue_at(cudaStream_t stream, std::function<void()> work);
// issue an NCCL collective (work that waits for other ranks: a host's wait
// does not run it ahead of the stream it waits for)
emu_pos emu_enqueue_collective(cudaStream_t stream, std::function<void()> work);
// the stream's later work waits until the work up to after has run (as a wait on an event recorded there)
void emu_enqueue_wait(cudaStream_t stream, emu_pos after);
// run all the work issued on a device's streams so far
void emu_device_drain(int device);

#endif
