// Runtime of the CUDA emulation (see cuda_emu.h): kernel registry, fiber scheduler, launch entry points that
// EmulatedDevice calls through FFM.
//
// One launch: blocks are distributed over OS threads (OpenMP, dynamic schedule). On its OS thread a block is a
// set of fibers, one per CUDA thread, run by a round-robin scheduler: a fiber runs until it reaches a barrier or
// returns. After a sweep over all fibers, complete warp barriers are released first, then the block barrier
// when every live thread waits at it. A sweep in which nothing can run or be released is a deadlock (a barrier
// inside divergent code): the launch fails with a message.
#include "cuda_emu.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>
#include <omp.h>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace ie_emu {

thread_local ThreadState* t_current = nullptr;
thread_local uint3 t_block_idx = {0, 0, 0};
thread_local dim3 t_block_dim;
thread_local dim3 t_grid_dim;

// ---------------------------------------------------------------- registry
struct Kernel {
    void* fn;
    Thunk thunk;
    std::string signature;
};
static std::map<std::string, Kernel>& kernels() {
    static std::map<std::string, Kernel> k;
    return k;
}
static std::map<std::string, long long>& constants() {
    static std::map<std::string, long long> c;
    return c;
}
void register_kernel(const char* name, void* fn, Thunk thunk, const char* signature) {
    kernels()[name] = Kernel{fn, thunk, signature};
}
void register_constant(const char* name, long long value) { constants()[name] = value; }

// ---------------------------------------------------------------- fibers
static const size_t STACK_BYTES = 256 * 1024;   // per CUDA thread; kernels keep small arrays in "registers"
static const size_t GUARD_BYTES = 4096;          // PROT_NONE page below each stack: overflow faults, not corrupts

enum State : int { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };

struct Fiber {
    ThreadState pub;        // first member: cuda_emu.h reads threadIdx through it
    State state;
    char* stack;            // lowest usable address (above the guard page)
#if defined(__x86_64__)
    void* sp;
#else
    ucontext_t ctx;
#endif
};

/** Per-OS-thread scheduler state. */
struct Scheduler {
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
#if defined(__x86_64__)
    void* sp = nullptr;      // the scheduler's own stack pointer while a fiber runs
#else
    ucontext_t ctx;
#endif
    Fiber* running = nullptr;
    // the current launch
    Thunk thunk = nullptr;
    void* fn = nullptr;
    void** params = nullptr;
    // warp exchange buffers: [warp][parity][lane]
    std::vector<uint64_t> slots;
    const char* trap_reason = nullptr;
};
static thread_local Scheduler* t_sched = nullptr;

#if defined(__x86_64__)
// void ie_emu_switch(void** save_sp, void* load_sp): saves the callee-saved registers on the current stack, stores
// the stack pointer in *save_sp, switches to load_sp and restores the registers saved there. MXCSR and the x87
// control word are not switched: kernels never change them, so every fiber runs with the launching thread's.
extern "C" void ie_emu_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl ie_emu_switch
    .type ie_emu_switch, @function
ie_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size ie_emu_switch, .-ie_emu_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");
#endif

static void to_scheduler(Fiber* f) {
    Scheduler* s = t_sched;
#if defined(__x86_64__)
    ie_emu_switch(&f->sp, s->sp);
#else
    swapcontext(&f->ctx, &s->ctx);
#endif
}

[[noreturn]] static void fiber_main() {
    Scheduler* s = t_sched;
    Fiber* f = s->running;
    s->thunk(s->fn, s->params);
    f->state = DONE;
    to_scheduler(f);
    std::abort();   // a finished fiber is never resumed
}

#if defined(__x86_64__)
extern "C" void ie_emu_fiber_entry() { fiber_main(); }
#else
static void fiber_entry_uc() { fiber_main(); }
#endif

static char* new_stack() {
    void* p = mmap(nullptr, STACK_BYTES + GUARD_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    mprotect(p, GUARD_BYTES, PROT_NONE);
    return static_cast<char*>(p) + GUARD_BYTES;
}

static void start_fiber(Scheduler* s, Fiber* f) {
#if defined(__x86_64__)
    // Initial frame, as ie_emu_switch leaves it: [r15 r14 r13 r12 rbx rbp][ret -> entry][pad]. After the `ret`, rsp
    // must be 8 mod 16 as at any function entry.
    uintptr_t top = reinterpret_cast<uintptr_t>(f->stack + STACK_BYTES) & ~uintptr_t(15);
    uint64_t* sp = reinterpret_cast<uint64_t*>(top);
    *--sp = 0;                                                        // fake return address of the entry (never used)
    *--sp = reinterpret_cast<uint64_t>(&ie_emu_fiber_entry);          // popped by ret
    for (int i = 0; i < 6; i++) *--sp = 0;                            // rbp rbx r12 r13 r14 r15
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = STACK_BYTES;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, fiber_entry_uc, 0);
#endif
    (void) s;
}

static void resume(Scheduler* s, Fiber* f) {
    s->running = f;
    t_current = &f->pub;
#if defined(__x86_64__)
    ie_emu_switch(&s->sp, f->sp);
#else
    swapcontext(&s->ctx, &f->ctx);
#endif
    t_current = nullptr;
    s->running = nullptr;
}

void sync_block() {
    Fiber* f = t_sched->running;
    f->state = AT_BLOCK_BARRIER;
    to_scheduler(f);
}

void sync_warp() {
    Fiber* f = t_sched->running;
    f->state = AT_WARP_BARRIER;
    to_scheduler(f);
}

const uint64_t* warp_exchange(uint64_t value) {
    Scheduler* s = t_sched;
    Fiber* f = s->running;
    unsigned warp = f->pub.linear >> 5, lane = f->pub.linear & 31u, par = f->pub.parity;
    f->pub.parity ^= 1u;
    uint64_t* buf = &s->slots[(warp * 2 + par) * 32];
    buf[lane] = value;
    f->state = AT_WARP_BARRIER;
    to_scheduler(f);
    return buf;
}

void trap(const char* why) {
    Scheduler* s = t_sched;
    s->trap_reason = why;
    Fiber* f = s->running;
    f->state = DONE;
    to_scheduler(f);
    std::abort();
}

/** Runs one block to completion; returns null or the reason it failed. */
static const char* run_block(Scheduler* s, unsigned nthreads) {
    if (s->stacks.size() < nthreads) {
        while (s->stacks.size() < nthreads) {
            char* st = new_stack();
            if (!st) return "out of memory for fiber stacks";
            s->stacks.push_back(st);
        }
    }
    s->fibers.resize(nthreads);
    unsigned nwarps = (nthreads + 31) / 32;
    s->slots.assign((size_t) nwarps * 64, 0);
    s->trap_reason = nullptr;
    dim3 bd = t_block_dim;
    for (unsigned i = 0; i < nthreads; i++) {
        Fiber& f = s->fibers[i];
        f.pub.tid = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
        f.pub.linear = i;
        f.pub.parity = 0;
        f.state = RUNNABLE;
        f.stack = s->stacks[i];
        start_fiber(s, &f);
    }
    unsigned alive = nthreads;
    while (alive > 0) {
        for (unsigned i = 0; i < nthreads; i++) {
            Fiber& f = s->fibers[i];
            if (f.state != RUNNABLE) continue;
            resume(s, &f);
            if (s->trap_reason) return s->trap_reason;
            if (f.state == DONE) alive--;
        }
        if (alive == 0) break;
        bool released = false;
        unsigned at_block = 0;
        for (unsigned w = 0; w < nwarps; w++) {
            unsigned lo = w * 32, hi = std::min(nthreads, lo + 32), live = 0, waiting = 0;
            for (unsigned i = lo; i < hi; i++) {
                State st = s->fibers[i].state;
                if (st != DONE) live++;
                if (st == AT_WARP_BARRIER) waiting++;
                if (st == AT_BLOCK_BARRIER) at_block++;
            }
            if (waiting > 0 && waiting == live) {
                for (unsigned i = lo; i < hi; i++)
                    if (s->fibers[i].state == AT_WARP_BARRIER) s->fibers[i].state = RUNNABLE;
                released = true;
            }
        }
        if (!released && at_block == alive) {
            for (unsigned i = 0; i < nthreads; i++)
                if (s->fibers[i].state == AT_BLOCK_BARRIER) s->fibers[i].state = RUNNABLE;
            released = true;
        }
        if (!released)
            return "deadlock: threads wait at different barriers (__syncthreads or a warp operation in divergent code)";
    }
    return nullptr;
}

}  // namespace ie_emu

using namespace ie_emu;

static int g_threads = 0;   // 0: OpenMP's default

extern "C" {

int ie_emu_kernel_count() { return (int) kernels().size(); }

/** Name of the i-th kernel (sorted), or null. */
const char* ie_emu_kernel_name(int i) {
    if (i < 0 || i >= (int) kernels().size()) return nullptr;
    auto it = kernels().begin();
    std::advance(it, i);
    return it->first.c_str();
}

/** Argument signature of a kernel ('p' pointer, 'i' 32-bit int, 'l' 64-bit int, 'f' float, 'd' double), or null. */
const char* ie_emu_kernel_signature(const char* name) {
    auto it = kernels().find(name);
    return it == kernels().end() ? nullptr : it->second.signature.c_str();
}

int ie_emu_constant_count() { return (int) constants().size(); }

const char* ie_emu_constant_name(int i) {
    if (i < 0 || i >= (int) constants().size()) return nullptr;
    auto it = constants().begin();
    std::advance(it, i);
    return it->first.c_str();
}

long long ie_emu_constant_value(const char* name) {
    auto it = constants().find(name);
    return it == constants().end() ? -1 : it->second;
}

void ie_emu_set_threads(int n) { g_threads = n; }

/**
 * Launches kernel `name` on a grid g[3] of blocks b[3], synchronously. params[i] points at the value of argument i
 * (as cuLaunchKernel's kernelParams); sig is the caller's idea of the signature, checked against the kernel's.
 * Returns 0, or -1 with a message in err.
 */
int ie_emu_launch(const char* name, const char* sig, const unsigned* g, const unsigned* b, unsigned shared_bytes,
                  void** params, char* err, int errlen) {
    auto fail = [&](const std::string& m) {
        std::snprintf(err, (size_t) errlen, "%s", m.c_str());
        return -1;
    };
    auto it = kernels().find(name);
    if (it == kernels().end()) return fail(std::string("no kernel named ") + name);
    const Kernel& k = it->second;
    if (k.signature != sig)
        return fail(std::string(name) + ": arguments (" + sig + ") do not match the kernel's parameters (" + k.signature + ")");
    if (shared_bytes != 0) return fail(std::string(name) + ": dynamic shared memory is not emulated");
    unsigned long long nthreads = (unsigned long long) b[0] * b[1] * b[2];
    if (nthreads == 0 || nthreads > 1024 || b[2] > 64)
        return fail(std::string(name) + ": invalid block " + std::to_string(b[0]) + "x" + std::to_string(b[1]) + "x" + std::to_string(b[2]));
    if (g[0] == 0 || g[1] == 0 || g[2] == 0 || g[1] > 65535 || g[2] > 65535 || g[0] > 2147483647u)
        return fail(std::string(name) + ": invalid grid " + std::to_string(g[0]) + "x" + std::to_string(g[1]) + "x" + std::to_string(g[2]));
    long long nblocks = (long long) g[0] * g[1] * g[2];
    std::atomic<const char*> failure{nullptr};
    std::atomic<long long> failed_block{-1};
    int nt = g_threads > 0 ? g_threads : omp_get_max_threads();
    if (nblocks < nt) nt = (int) nblocks;
#pragma omp parallel num_threads(nt)
    {
        if (!t_sched) t_sched = new Scheduler();   // one per OS thread, kept for later launches (stacks reused)
        Scheduler* s = t_sched;
        s->thunk = k.thunk;
        s->fn = k.fn;
        s->params = params;
        t_block_dim = dim3(b[0], b[1], b[2]);
        t_grid_dim = dim3(g[0], g[1], g[2]);
#pragma omp for schedule(dynamic, 1)
        for (long long blk = 0; blk < nblocks; blk++) {
            if (failure.load(std::memory_order_relaxed)) continue;
            t_block_idx = uint3{(unsigned) (blk % g[0]), (unsigned) ((blk / g[0]) % g[1]), (unsigned) (blk / ((long long) g[0] * g[1]))};
            const char* why = run_block(s, (unsigned) nthreads);
            if (why) {
                const char* expected = nullptr;
                if (failure.compare_exchange_strong(expected, why)) failed_block = blk;
            }
        }
    }
    if (const char* why = failure.load()) {
        long long blk = failed_block.load();
        return fail(std::string(name) + ": block " + std::to_string(blk % g[0]) + "," + std::to_string((blk / g[0]) % g[1]) + ","
                    + std::to_string(blk / ((long long) g[0] * g[1])) + ": " + why);
    }
    return 0;
}

/** Device memory of the emulated device: 256-byte aligned host memory (cudaMalloc's alignment). */
void* ie_emu_malloc(long long bytes) {
    size_t n = (size_t) ((bytes + 255) / 256 * 256);
    return std::aligned_alloc(256, n == 0 ? 256 : n);
}

void ie_emu_free(void* p) { std::free(p); }

}  // extern "C"
