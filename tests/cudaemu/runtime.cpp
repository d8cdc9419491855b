// runtime: the CUDA emulator's kernel scheduler and CUDA runtime
// (tests/cudaemu/README.md). Device memory is host memory, filled with
// 0xff bytes (NaN in every float type) when allocated, so a kernel that
// reads what nobody wrote gives NaN; every allocation is tracked, and a
// kernel argument or copy that points outside them is fatal. Work waits
// in its stream until the host waits for it (below); a stream that
// captures records the work instead, and a graph launch replays it. The rules CUDA enforces and the project
// relies on are enforced here too: a launch's limits, no synchronous copy
// or device synchronization during a capture, no freeing of unknown
// pointers.
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "emu.h"
#include "emu_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

void emu_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "CUDA emulator: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

// ---- device memory

static thread_local int current_device;

int emu_current_device(void) { return current_device; }

struct allocation {
    size_t bytes;
    int device;       // the device current when it was allocated
    unsigned long id; // which allocation (an address may come back)
};

// a capture under way on this thread notes the allocations its work uses (below)
static void note_use(uintptr_t base, unsigned long id);

static std::mutex mem_lock;
static std::map<uintptr_t, allocation> allocations; // by base
static size_t allocated;
static const size_t emu_total_memory = (size_t)80 << 30;

static void *dev_alloc(size_t bytes)
{
    // exactly the bytes asked for (AddressSanitizer then guards the end), 256-byte aligned as cudaMalloc
    void *p = NULL;
    if (posix_memalign(&p, 256, bytes ? bytes : 1)) return NULL;
    memset(p, 0xff, bytes);
    std::lock_guard<std::mutex> g(mem_lock);
    static unsigned long ids;
    allocations[(uintptr_t)p] = allocation{bytes, current_device, ++ids};
    allocated += bytes;
    return p;
}

// the allocation at p is gone for work issued from now on (its bytes are
// freed by the caller, once the work issued before has run); -1 if p is none
static int dev_forget(void *p)
{
    std::lock_guard<std::mutex> g(mem_lock);
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) return -1;
    allocated -= it->second.bytes;
    allocations.erase(it);
    return 0;
}

// page-locked host memory (cudaHostAlloc): base -> bytes
static std::map<uintptr_t, size_t> pinned;

static int host_pinned(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p;
    std::lock_guard<std::mutex> g(mem_lock);
    auto it = pinned.upper_bound(a);
    if (it == pinned.begin()) return 0;
    --it;
    return a + bytes <= it->first + it->second;
}

// bytes at p lie inside one allocation (1), or p is nowhere in any (0), or
// runs past the end of one (-1)
int emu_device_range(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p;
    std::lock_guard<std::mutex> g(mem_lock);
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return 0;
    --it;
    if (a > it->first + it->second.bytes) return 0;
    if (a + bytes > it->first + it->second.bytes) return -1;
    note_use(it->first, it->second.id);
    return 1;
}

void emu_check_device(const void *p, int device, const char *who, ...)
{
    uintptr_t a = (uintptr_t)p;
    int owner = -1;
    {
        std::lock_guard<std::mutex> g(mem_lock);
        auto it = allocations.upper_bound(a);
        if (it != allocations.begin() && a <= (--it)->first + it->second.bytes) owner = it->second.device;
    }
    if (owner < 0 || owner == device) return;
    char what[160];
    va_list ap;
    va_start(ap, who);
    vsnprintf(what, sizeof what, who, ap);
    va_end(ap);
    emu_fatal("%s at %p: memory of device %d, used on device %d (an illegal address on a GPU without peer access)", what,
              p, owner, device);
}

void emu_check_pointer(const char *kernel, int arg, const void *p)
{
    if (!p) return;
    if (emu_device_range(p, 0) != 1)
        emu_fatal("kernel %s: argument %d (%p) is not device memory (an illegal address on a GPU)", kernel, arg, p);
    emu_check_device(p, current_device, "kernel %s: argument %d", kernel, arg);
}

// ---- errors: the last one of each thread, as cudaGetLastError returns it

static thread_local cudaError_t last_error;

static cudaError_t fail(cudaError_t e)
{
    last_error = e;
    return e;
}

// ---- streams, capture and graphs
//
// Each stream keeps the work issued on it until the host waits for it
// (cudaMemcpy, a synchronization, cudaFree): the thread that waits runs
// it, in issue order, a wait on an event first running the recording
// stream as far as the event. So work runs as late as CUDA allows, and a
// stream another does not wait for runs out of step with it: each time
// the host waits, the device's other streams run first, all they can, or
// last (LC_CUDA_EMU_STREAMS, below). A missing cudaStreamWaitEvent, or host
// memory reused before the copy from it ran, then gives a wrong result.

struct emu_graph {
    std::vector<std::function<void()>> work;
    std::set<std::pair<uintptr_t, unsigned long>> uses; // the allocations (base, id) its work was checked against
};

// a stream's entry: work, or (after) a wait for another stream's first upto entries
struct entry {
    std::function<void()> work;
    CUstream_st *after;
    unsigned long upto;
    int collective; // the work waits for other ranks (NCCL)
};

struct CUstream_st {
    emu_graph *capture; // recording, or NULL
    int invalidated;    // an unsupported call was made while capturing
    int device;
    int blocking;            // created without cudaStreamNonBlocking: in step with the legacy stream
    std::deque<entry> queue; // issued, not run yet
    unsigned long issued, done;
    int running; // a thread is running its first entry
};

static const int max_devices = 8;
static std::mutex queue_lock; // every stream's queue and counts
static std::condition_variable queue_cv;
// (never freed: threads still running at exit may use them)
static CUstream_st *const legacy_streams = [] {
    CUstream_st *l = new CUstream_st[max_devices]();
    for (int d = 0; d < max_devices; d++) l[d].device = d;
    return l;
}();
static std::vector<CUstream_st *> &live_streams = *new std::vector<CUstream_st *>; // created, not destroyed
// destroyed streams stay, since an event or a wait may still name them
// (reachable from a pointer that no exit-time destructor frees: no leak)
static std::vector<CUstream_st *> *const retired_streams = new std::vector<CUstream_st *>;
static unsigned long host_waits[max_devices]; // how often the host waited for each device

// queue_lock held: a coin for each wait of the host, from a fixed sequence
// per device (LC_CUDA_EMU_SEED picks another), so that a program's own
// rhythm of waits cannot keep the other streams on one side, and a run
// repeats whatever the threads of other devices do
static uint64_t coin(int device)
{
    static uint64_t seed = getenv("LC_CUDA_EMU_SEED") ? strtoull(getenv("LC_CUDA_EMU_SEED"), NULL, 0) : 0;
    uint64_t z = seed + (uint64_t)device * 0x632be59bd9b4e019ull + 0x9e3779b97f4a7c15ull * ++host_waits[device];
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// LC_CUDA_EMU_STREAMS: when a host's wait runs the device's other streams:
// "late" never (only what the awaited work waits for), "early" always
// first, "coin" (the default) as a coin falls each time. A stream that
// reads another's result without waiting for its event fails every time
// under late; one that reads another's input before it was written, under
// early.
enum { OTHERS_COIN, OTHERS_LATE, OTHERS_EARLY };
static int others_policy(void)
{
    static int policy = [] {
        const char *e = getenv("LC_CUDA_EMU_STREAMS");
        if (!e || !*e || !strcmp(e, "coin")) return (int)OTHERS_COIN;
        if (!strcmp(e, "late")) return (int)OTHERS_LATE;
        if (!strcmp(e, "early")) return (int)OTHERS_EARLY;
        emu_fatal("LC_CUDA_EMU_STREAMS=%s: late, early or coin", e);
    }();
    return policy;
}

// queue_lock held: the device's other streams run first at this wait of the host
static int others_first(int device)
{
    int p = others_policy();
    return p == OTHERS_EARLY || (p == OTHERS_COIN && (coin(device) & 1));
}

static thread_local std::vector<CUstream_st *> captures_here; // the captures this thread has under way

// mem_lock held
static void note_use(uintptr_t base, unsigned long id)
{
    for (CUstream_st *s : captures_here) s->capture->uses.insert({base, id});
}

static CUstream_st *stream_of(cudaStream_t s)
{
    // the legacy default and per-thread streams are handles, not objects: the current device's legacy stream
    if (s == 0 || s == cudaStreamLegacy || s == cudaStreamPerThread) {
        return &legacy_streams[current_device];
    }
    return (CUstream_st *)s;
}

// queue_lock held: the legacy stream and the blocking streams of a device wait for each other's work
static void push(CUstream_st *s, entry e)
{
    auto wait_for = [s](CUstream_st *o) {
        if (o != s && o->done < o->issued) {
            s->queue.push_back(entry{nullptr, o, o->issued, 0});
            s->issued++;
        }
    };
    if (s == &legacy_streams[s->device]) {
        for (CUstream_st *o : live_streams)
            if (o->blocking && o->device == s->device) wait_for(o);
    } else if (s->blocking) {
        wait_for(&legacy_streams[s->device]);
    }
    s->queue.push_back(std::move(e));
    s->issued++;
}

// work issued on a stream (or recorded, while it captures: no place then)
static emu_pos issue(cudaStream_t stream, std::function<void()> work, int collective)
{
    CUstream_st *s = stream_of(stream);
    if (s->capture) {
        if (collective) emu_fatal("an NCCL collective inside a graph capture (not emulated)");
        s->capture->work.push_back(std::move(work));
        return emu_pos{NULL, 0};
    }
    std::lock_guard<std::mutex> l(queue_lock);
    push(s, entry{std::move(work), NULL, 0, collective});
    return emu_pos{s, s->issued};
}

emu_pos emu_enqueue_at(cudaStream_t stream, std::function<void()> work) { return issue(stream, std::move(work), 0); }

emu_pos emu_enqueue_collective(cudaStream_t stream, std::function<void()> work)
{
    return issue(stream, std::move(work), 1);
}

void emu_enqueue(cudaStream_t stream, std::function<void()> work) { emu_enqueue_at(stream, std::move(work)); }

void emu_enqueue_wait(cudaStream_t stream, emu_pos after)
{
    CUstream_st *s = stream_of(stream);
    if (!after.stream) return;
    if (s->capture) emu_fatal("a wait on work outside a graph capture, inside one (not emulated)");
    std::lock_guard<std::mutex> l(queue_lock);
    push(s, entry{nullptr, (CUstream_st *)after.stream, after.seq, 0});
}

// Run stream s until its first upto entries have run: here, or by the
// thread running it now. Ahead of a host's wait for stream host (up to
// host_upto), it stops instead where the GPU would not hold the host up:
// at a collective (which waits for other ranks), at a wait for another
// stream that has not got so far, and where another thread runs s.
static void run_until(CUstream_st *s, unsigned long upto);

static void run_stream(CUstream_st *s, unsigned long upto, CUstream_st *host, unsigned long host_upto)
{
    std::unique_lock<std::mutex> l(queue_lock);
    while (s->done < upto) {
        if (s->running) {
            if (host) return;
            queue_cv.wait(l);
            continue;
        }
        const entry &f = s->queue.front();
        if (host && (f.collective || (f.after && f.after->done < f.upto && !(f.after == host && f.upto <= host_upto))))
            return;
        entry e = std::move(s->queue.front());
        s->queue.pop_front();
        s->running = 1;
        l.unlock();
        if (e.after) run_until(e.after, e.upto);
        if (e.work) e.work();
        l.lock();
        s->running = 0;
        s->done++;
        queue_cv.notify_all();
    }
}

static void run_until(CUstream_st *s, unsigned long upto) { run_stream(s, upto, NULL, 0); }

typedef std::vector<std::pair<CUstream_st *, unsigned long>> stream_marks;

// queue_lock held: the device's streams but skip (the legacy one first, then as created), each as far as issued
static stream_marks device_streams(int device, const CUstream_st *skip)
{
    stream_marks all;
    CUstream_st *leg = &legacy_streams[device];
    if (leg != skip) all.push_back({leg, leg->issued});
    for (CUstream_st *o : live_streams)
        if (o != skip && o->device == device) all.push_back({o, o->issued});
    return all;
}

// the host waits for the work issued on s so far; the device's other
// streams first, as far as they were issued, when others_first says so
static void host_wait(CUstream_st *s)
{
    stream_marks first;
    unsigned long upto;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        upto = s->issued;
        if (others_first(s->device)) first = device_streams(s->device, s);
    }
    for (auto &f : first) run_stream(f.first, f.second, s, upto);
    run_until(s, upto);
}

// the host waits for all the device's work: its streams in turn, the
// legacy one first and then the others newest first (late), the others
// oldest first and then the legacy one (early), or in the order the coins
// pick (a stream that waits for none shows out of step either way)
static void device_wait(int device)
{
    stream_marks all;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        all = device_streams(device, NULL);
        int p = others_policy();
        if (p == OTHERS_LATE) std::reverse(all.begin() + 1, all.end()); // the legacy stream, then the newest first
        if (p == OTHERS_EARLY) std::rotate(all.begin(), all.begin() + 1, all.end()); // the oldest first, legacy last
        if (p == OTHERS_COIN)
            for (size_t i = all.size(); i > 1; i--) std::swap(all[i - 1], all[coin(device) % i]);
    }
    for (auto &a : all) run_until(a.first, a.second);
}

void emu_device_drain(int device) { device_wait(device); }

// a call that would wait for the GPU: refused, and the capture spoilt, while this thread captures
static cudaError_t sync_call(void)
{
    if (captures_here.empty()) return cudaSuccess;
    for (CUstream_st *s : captures_here) s->invalidated = 1;
    return fail(cudaErrorStreamCaptureUnsupported);
}

// ---- the kernel scheduler

enum { FIBER_RUN, FIBER_WAIT, FIBER_DONE };

// A context switch: on x86-64 a few instructions (callee-saved registers,
// the FPU/SSE control words, the stack pointer), since a block of 256
// threads starts 256 fibers; elsewhere ucontext (a system call a switch).
#if defined(__x86_64__)
struct context {
    void *sp;
};
extern "C" void emu_ctx_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl emu_ctx_switch
    .hidden emu_ctx_switch
    .type emu_ctx_switch, @function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_ctx_switch, .-emu_ctx_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");

static void ctx_switch(context *save, context *load) { emu_ctx_switch(&save->sp, load->sp); }

// a fresh context that enters entry (which never returns) on the stack,
// with the calling thread's floating-point control words
static void ctx_make(context *c, char *stack, size_t size, void (*entry)(void))
{
    static thread_local uint32_t ctl[2];
    static thread_local int have_ctl;
    if (!have_ctl) {
        asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(ctl[0]), "=m"(ctl[1]));
        have_ctl = 1;
    }
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;                  // entry's return address: none (it is entered as if called)
    *--sp = (uintptr_t)entry;   // where emu_ctx_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = 0; // rbp rbx r12 r13 r14 r15
    --sp;
    memcpy(sp, ctl, sizeof ctl);
    c->sp = sp;
}
#else
struct context {
    ucontext_t uc;
};

static void ctx_switch(context *save, context *load) { swapcontext(&save->uc, &load->uc); }

static void ctx_make(context *c, char *stack, size_t size, void (*entry)(void))
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL; // entry never returns
    makecontext(&c->uc, entry, 0);
}
#endif

struct fiber {
    context ctx;
    emu_thread t;
    int state;
    unsigned long gen; // the barrier generation it waits for to end
    char *stack;
};

static const size_t fiber_stack = 256 << 10;
static const int max_threads = 1024;

struct block_state {
    fiber *f;
    int n, live, cur;
    int arrived, vote, result;
    unsigned long gen;
    const char *file; // where the barrier under way was called
    int line;
    const char *kernel;
    context sched;
    const std::function<void()> *body;
#ifdef EMU_ASAN
    const void *sched_bottom;
    size_t sched_size;
#endif
};

// initial-exec: kernels read it for every threadIdx, and a dlopened library's
// default TLS model makes each read a call
__attribute__((tls_model("initial-exec"))) thread_local const emu_thread *emu_cur;
static block_state *blk; // the block running (kernels run under run_lock)
static std::recursive_mutex run_lock;
static char *stacks; // max_threads fiber stacks, mapped once

// a fiber's first frame: the thread's body, then back to the scheduler for good
static void fiber_entry(void)
{
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &blk->sched_bottom, &blk->sched_size);
#endif
    (*blk->body)();
    fiber *f = &blk->f[blk->cur];
    f->state = FIBER_DONE;
    blk->live--;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(NULL, blk->sched_bottom, blk->sched_size);
#endif
    ctx_switch(&f->ctx, &blk->sched);
    emu_fatal("a finished fiber resumed");
}

static void switch_to(int i)
{
    fiber *f = &blk->f[i];
    blk->cur = i;
    emu_cur = &f->t;
#ifdef EMU_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, f->stack, fiber_stack);
#endif
    ctx_switch(&blk->sched, &f->ctx);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void release_barrier(void)
{
    blk->result = blk->vote;
    blk->arrived = 0, blk->vote = 0;
    blk->gen++;
}

// the body of __syncthreads and __syncthreads_or
static int barrier(int pred, const char *file, int line)
{
    if (!blk) emu_fatal("__syncthreads outside a kernel");
    fiber *f = &blk->f[blk->cur];
    if (blk->arrived && (line != blk->line || (file != blk->file && strcmp(file, blk->file))))
        emu_fatal("kernel %s: threads of one block wait at different __syncthreads (%s:%d and %s:%d)", blk->kernel,
                  blk->file, blk->line, file, line);
    blk->file = file, blk->line = line;
    blk->arrived++;
    blk->vote |= pred != 0;
    if (blk->arrived == blk->live) {
        release_barrier();
        return blk->result;
    }
    f->state = FIBER_WAIT;
    f->gen = blk->gen;
#ifdef EMU_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, blk->sched_bottom, blk->sched_size);
#endif
    ctx_switch(&f->ctx, &blk->sched);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, &blk->sched_bottom, &blk->sched_size);
#endif
    return blk->result;
}

void emu_syncthreads(const char *file, int line) { barrier(0, file, line); }
int emu_syncthreads_or(int pred, const char *file, int line) { return barrier(pred, file, line); }

cudaError_t emu_launch_check(const char *kernel, dim3 g, dim3 b, size_t smem, cudaStream_t stream)
{
    // CUDA: "a kernel launch will fail if it is issued to a stream that is not associated to the current device"
    if (stream_of(stream)->device != current_device)
        emu_fatal("kernel %s launched on a stream of device %d while device %d is current", kernel,
                  stream_of(stream)->device, current_device);
    unsigned long threads = (unsigned long)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || !threads || threads > (unsigned long)max_threads || b.z > 64 || g.y > 65535 ||
        g.z > 65535 || g.x > 0x7fffffffu || smem > (48u << 10))
        return fail(cudaErrorInvalidConfiguration);
    return cudaSuccess;
}

void emu_run_grid(const char *kernel, dim3 g, dim3 b, const std::function<void()> &body)
{
    std::lock_guard<std::recursive_mutex> lock(run_lock);
    if (blk) emu_fatal("kernel %s launched from inside kernel %s", kernel, blk->kernel);
    if (!stacks) {
        stacks = (char *)mmap(NULL, fiber_stack * max_threads, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (stacks == MAP_FAILED) emu_fatal("cannot map the fibers' stacks: %s", strerror(errno));
        // a guard page below each stack: an overflow faults instead of corrupting its neighbour
        for (int i = 0; i < max_threads; i++)
            if (mprotect(stacks + (size_t)i * fiber_stack, 4096, PROT_NONE))
                emu_fatal("cannot protect a fiber stack's guard page: %s", strerror(errno));
    }
    const int n = (int)(b.x * b.y * b.z);
    std::vector<fiber> fibers(n);
    block_state st = {};
    st.f = fibers.data(), st.n = n, st.kernel = kernel, st.body = &body;
    const emu_thread *saved = emu_cur;
    blk = &st;
    // every other launch runs its blocks, and its threads' first stretch, in reverse
    static unsigned long launches;
    const int reverse = (int)(launches++ & 1);
    const unsigned long blocks = (unsigned long)g.x * g.y * g.z;
    for (unsigned long k = 0; k < blocks; k++) {
        const unsigned long q = reverse ? blocks - 1 - k : k;
        const uint3 bid = {(unsigned)(q % g.x), (unsigned)(q / g.x % g.y), (unsigned)(q / g.x / g.y)};
        st.live = n, st.arrived = st.vote = 0;
        for (int i = 0; i < n; i++) {
            fiber *f = &fibers[i];
            f->t.tid = uint3{(unsigned)i % b.x, (unsigned)i / b.x % b.y, (unsigned)i / (b.x * b.y)};
            f->t.bid = bid;
            f->t.bdim = b, f->t.gdim = g;
            f->state = FIBER_RUN;
            f->stack = stacks + (size_t)i * fiber_stack;
            ctx_make(&f->ctx, f->stack, fiber_stack, fiber_entry);
        }
        // rounds until every thread is done: each round resumes the
        // runnable threads, in alternating directions (a missing barrier
        // shows whichever order it depends on)
        for (int round = reverse; st.live > 0; round++) {
            int moved = 0;
            for (int j = 0; j < n; j++) {
                int i = round & 1 ? n - 1 - j : j;
                fiber *f = &fibers[i];
                if (f->state == FIBER_DONE || (f->state == FIBER_WAIT && f->gen == st.gen)) continue;
                f->state = FIBER_RUN;
                switch_to(i);
                moved = 1;
                // threads that exit no longer hold a barrier up
                if (f->state == FIBER_DONE && st.arrived && st.arrived == st.live) release_barrier();
            }
            if (!moved) emu_fatal("kernel %s: block stuck at a barrier", kernel);
        }
    }
    blk = NULL;
    emu_cur = saved;
}

// ---- the runtime API

int emu_devices(void)
{
    const char *e = getenv("LC_CUDA_EMU_DEVICES");
    int n = e ? atoi(e) : 1;
    return n < 0 ? 0 : n > 8 ? 8 : n;
}

extern "C" {

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = emu_devices();
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= emu_devices()) return fail(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (device < 0 || device >= emu_devices()) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CUDA emulator %d (CPU)", device);
    prop->major = 9, prop->minor = 0;
    prop->multiProcessorCount = 132;
    prop->totalGlobalMem = emu_total_memory;
    prop->maxThreadsPerBlock = max_threads;
    prop->warpSize = 32;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
    if (device < 0 || device >= emu_devices()) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrClockRate: *value = 1980000; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 132; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    default: return fail(cudaErrorNotSupported);
    }
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    default: return "unknown error (CUDA emulator)";
    }
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    if (sync_call()) return last_error;
    *p = dev_alloc(bytes);
    return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

// cudaFree waits for the memory's device (the work issued before may use it)
cudaError_t cudaFree(void *p)
{
    if (sync_call()) return last_error;
    if (!p) return cudaSuccess;
    int device = -1;
    {
        std::lock_guard<std::mutex> g(mem_lock);
        auto it = allocations.find((uintptr_t)p);
        if (it != allocations.end()) device = it->second.device;
    }
    if (device < 0) return fail(cudaErrorInvalidValue);
    device_wait(device);
    if (dev_forget(p)) return fail(cudaErrorInvalidValue);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t s)
{
    CUstream_st *st = stream_of(s);
    if (st->capture) emu_fatal("cudaMallocAsync inside a graph capture (the project never captures one)");
    *p = dev_alloc(bytes);
    return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

// stream-ordered: gone at once for the work issued from now on (which may
// not use it), freed once the stream's work before has run
cudaError_t cudaFreeAsync(void *p, cudaStream_t s)
{
    CUstream_st *st = stream_of(s);
    if (st->capture) emu_fatal("cudaFreeAsync inside a graph capture (the project never captures one)");
    if (!p) return cudaSuccess;
    if (dev_forget(p)) return fail(cudaErrorInvalidValue);
    emu_enqueue(s, [p] { free(p); });
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    std::lock_guard<std::mutex> g(mem_lock);
    *total = emu_total_memory;
    *free_bytes = allocated < emu_total_memory ? emu_total_memory - allocated : 0;
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags)
{
    (void)flags;
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    std::lock_guard<std::mutex> g(mem_lock);
    pinned[(uintptr_t)*p] = bytes;
    return cudaSuccess;
}

// waits for the current device first, as CUDA does: a copy from the
// memory may not have run yet (a copy queued on another device's stream is
// not waited for: the project frees its batches on the rank's own thread)
cudaError_t cudaFreeHost(void *p)
{
    if (sync_call()) return last_error;
    if (!p) return cudaSuccess;
    device_wait(current_device);
    {
        std::lock_guard<std::mutex> g(mem_lock);
        if (!pinned.erase((uintptr_t)p)) return fail(cudaErrorInvalidValue);
    }
    free(p);
    return cudaSuccess;
}

// a copy's device side must lie inside one allocation
static void check_copy(const void *p, size_t bytes, const char *what)
{
    if (emu_device_range(p, bytes) != 1)
        emu_fatal("%s of %zu bytes at %p: not inside one device allocation", what, bytes, p);
}

static void check_kind(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what)
{
    if (kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) check_copy(dst, bytes, what);
    if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) check_copy(src, bytes, what);
}

// on the legacy stream: after the work issued there, and the host waits for it
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (sync_call()) return last_error;
    check_kind(dst, src, bytes, kind, "cudaMemcpy");
    emu_enqueue(0, [=] { memmove(dst, src, bytes); }); // in the legacy stream's order
    host_wait(stream_of(0));
    return cudaSuccess;
}

// From page-locked memory the copy reads or writes the host's bytes when
// it runs, as a GPU's DMA does; from pageable memory CUDA copies the
// source before returning, and a copy into pageable memory is synchronous.
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s)
{
    check_kind(dst, src, bytes, kind, "cudaMemcpyAsync");
    if (kind == cudaMemcpyHostToDevice && !host_pinned(src, bytes)) {
        std::vector<char> staged((const char *)src, (const char *)src + bytes);
        emu_enqueue(s, [dst, staged] { memcpy(dst, staged.data(), staged.size()); });
    } else if (kind == cudaMemcpyDeviceToHost && !host_pinned(dst, bytes)) {
        if (stream_of(s)->capture) emu_fatal("a copy to pageable memory inside a graph capture");
        emu_enqueue(s, [=] { memmove(dst, src, bytes); });
        host_wait(stream_of(s));
    } else {
        emu_enqueue(s, [=] { memmove(dst, src, bytes); });
    }
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s)
{
    check_copy(p, bytes, "cudaMemsetAsync");
    emu_enqueue(s, [=] { memset(p, value, bytes); });
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    if (sync_call()) return last_error;
    device_wait(current_device);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    CUstream_st *st = new CUstream_st();
    st->device = current_device;
    st->blocking = !(flags & cudaStreamNonBlocking);
    std::lock_guard<std::mutex> l(queue_lock);
    live_streams.push_back(st);
    *s = st;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

// CUDA finishes a destroyed stream's work later; here it is finished first
cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    CUstream_st *st = stream_of(s);
    if (st == &legacy_streams[st->device]) return fail(cudaErrorInvalidValue);
    if (st->capture) emu_fatal("a stream destroyed while it captures");
    unsigned long issued;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        auto it = std::find(live_streams.begin(), live_streams.end(), st);
        if (it == live_streams.end()) emu_fatal("cudaStreamDestroy of a stream that is not one (%p)", (void *)st);
        issued = st->issued;
    }
    run_until(st, issued);
    std::lock_guard<std::mutex> l(queue_lock);
    live_streams.erase(std::find(live_streams.begin(), live_streams.end(), st));
    retired_streams->push_back(st);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (sync_call()) return last_error;
    host_wait(stream_of(s));
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode)
{
    (void)mode;
    CUstream_st *st = stream_of(s);
    if (st == &legacy_streams[st->device]) return fail(cudaErrorStreamCaptureUnsupported); // the legacy stream cannot capture
    if (st->capture) return fail(cudaErrorIllegalState);
    st->capture = new emu_graph;
    st->invalidated = 0;
    captures_here.push_back(st);
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    CUstream_st *st = stream_of(s);
    if (!st->capture) return fail(cudaErrorIllegalState);
    emu_graph *g = st->capture;
    st->capture = NULL;
    for (size_t i = 0; i < captures_here.size(); i++)
        if (captures_here[i] == st) captures_here.erase(captures_here.begin() + (long)i);
    if (st->invalidated) {
        delete g;
        *graph = NULL;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = (cudaGraph_t)g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    (void)flags;
    *exec = (cudaGraphExec_t) new emu_graph(*(emu_graph *)graph);
    return cudaSuccess;
}

// every allocation the captured work used must still be there, the same
// one: a graph replaying memory freed since is an illegal address on a GPU
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    emu_graph *g = (emu_graph *)exec;
    {
        std::lock_guard<std::mutex> l(mem_lock);
        for (auto &u : g->uses) {
            auto it = allocations.find(u.first);
            if (it == allocations.end() || it->second.id != u.second)
                emu_fatal("a graph launched after memory its capture used (at %p) was freed%s", (void *)u.first,
                          it == allocations.end() ? "" : " (and allocated again at the same address)");
        }
    }
    for (auto &w : g->work) emu_enqueue(s, w);
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete (emu_graph *)graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete (emu_graph *)exec;
    return cudaSuccess;
}

// An event is a place in a stream's work (its last record's): done once
// the stream has run that far. Its time is the host's when the record runs.
struct event_time {
    double ms;
    int recorded;
};

struct CUevent_st {
    int timing;
    emu_pos at;     // the last record (stream NULL: never recorded, or in a capture)
    int in_capture; // the last record was a graph capture's
    std::shared_ptr<event_time> time; // a record still queued holds it too
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// queue_lock held
static int event_done(const CUevent_st *ev)
{
    return !ev->at.stream || ((CUstream_st *)ev->at.stream)->done >= ev->at.seq;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags)
{
    CUevent_st *ev = new CUevent_st();
    ev->timing = !(flags & cudaEventDisableTiming);
    ev->time = std::make_shared<event_time>();
    *e = ev;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    delete e;
    return cudaSuccess;
}

// Each record keeps its own time (a record still queued cannot overwrite
// a later one's). Inside a capture a record is the graph's: it keeps time
// when replayed, but nothing can wait for it (a fork and join inside a
// capture is not emulated).
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    std::shared_ptr<event_time> t = std::make_shared<event_time>();
    emu_pos at = emu_enqueue_at(s, [t] { t->ms = now_ms(), t->recorded = 1; });
    std::lock_guard<std::mutex> l(queue_lock);
    e->time = t;
    e->at = at;
    e->in_capture = at.stream == NULL;
    return cudaSuccess;
}

// not ready until the host has waited for the work before the record: a GPU may always be that slow
cudaError_t cudaEventQuery(cudaEvent_t e)
{
    std::lock_guard<std::mutex> l(queue_lock);
    return event_done(e) ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    if (sync_call()) return last_error;
    emu_pos at;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        at = e->at;
    }
    if (at.stream) run_until((CUstream_st *)at.stream, at.seq);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
    if (!a->timing || !b->timing) return fail(cudaErrorInvalidValue);
    std::shared_ptr<event_time> ta, tb;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        if (!event_done(a) || !event_done(b)) return fail(cudaErrorNotReady);
        ta = a->time, tb = b->time;
    }
    if (!ta->recorded || !tb->recorded) return fail(cudaErrorInvalidValue);
    *ms = (float)(tb->ms - ta->ms);
    return cudaSuccess;
}

// the stream's later work waits for the event's last record (none: no wait)
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags)
{
    (void)flags;
    emu_pos at;
    {
        std::lock_guard<std::mutex> l(queue_lock);
        if (e->in_capture)
            emu_fatal("a wait on an event recorded inside a graph capture (a fork and join inside a capture is not "
                      "emulated)");
        at = e->at;
    }
    emu_enqueue_wait(s, at);
    return cudaSuccess;
}

} // extern "C"
