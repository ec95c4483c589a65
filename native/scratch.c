/* Scratch buffers: the one mechanism for temporary memory in the native kernels.
 *
 * Ownership: ie_scratch_take hands the caller a buffer that is the caller's alone until it gives it back with
 * ie_scratch_park (p NULL: out of memory, nothing to park). Nothing else frees or reuses a taken buffer. Where it is
 * kept between calls depends on the kind asked for:
 *
 *   IE_SCRATCH_THREAD  kept by the calling thread, one buffer per nesting depth (a thread may hold several: the
 *                      Winograd tile buffer, and inside it the GEMM's packing buffer), grown on demand and never
 *                      shared, so no locking. Takes and parks of a thread must nest (park the last taken first).
 *                      For the per-thread work buffers of parallel regions: OpenMP pool threads are long-lived, so
 *                      each keeps its buffers for the next call. 4 KiB aligned.
 *   IE_SCRATCH_SHARED  from a global pool of a few parked buffers (the largest seen), guarded by a spin lock;
 *                      concurrent callers take one each or allocate their own, and a park that finds the pool full
 *                      of larger buffers frees its own. For large per-call buffers (transformed or flipped weights,
 *                      10-40 MB): fresh allocations that size are mmap'ed by malloc, and faulting their pages in
 *                      costs as much as the work (ResNet-50 layer4: 38 MB per call). Nested users (the bf16 gradient
 *                      -> widened weights -> Winograd weights) take one each. 2 MiB aligned, huge pages where the
 *                      kernel grants them (the GEMMs stream them).
 *
 * A thread's buffers live until the thread ends (a pthread key's destructor frees them: the OpenMP pool's threads
 * live as long as the process, but a server may start a thread per request), the pool's until the process ends: at
 * most IE_SCRATCH_DEPTH per live thread and PARKED in all, so repeated calls do not grow memory.
 */
#define _DEFAULT_SOURCE /* madvise */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PARKED 3
static ie_scratch parked[PARKED];
static int parked_lock = 0;

static ie_scratch shared_take(size_t nfloats)
{
    ie_scratch b = { NULL, 0, -1 };
    while (__atomic_exchange_n(&parked_lock, 1, __ATOMIC_ACQUIRE)) {}
    int best = -1;
    for (int i = 0; i < PARKED; i++)
        if (parked[i].cap >= nfloats && (best < 0 || parked[i].cap < parked[best].cap)) best = i;
    if (best >= 0) { b = parked[best]; parked[best] = (ie_scratch){ NULL, 0, -1 }; }
    __atomic_store_n(&parked_lock, 0, __ATOMIC_RELEASE);
    if (b.p) return b;
    const size_t align = (size_t)2 << 20, bytes = (nfloats * sizeof(float) + align - 1) & ~(align - 1);
    b.p = aligned_alloc(align, bytes);
    if (!b.p) return b;
#ifdef MADV_HUGEPAGE
    madvise(b.p, bytes, MADV_HUGEPAGE);
#endif
    b.cap = bytes / sizeof(float);
    return b;
}

static void shared_park(ie_scratch b)
{
    while (__atomic_exchange_n(&parked_lock, 1, __ATOMIC_ACQUIRE)) {}
    /* into an empty slot, else in place of the smallest parked buffer when larger */
    int slot = 0;
    for (int i = 0; i < PARKED; i++) {
        if (!parked[i].p) { slot = i; break; }
        if (parked[i].cap < parked[slot].cap) slot = i;
    }
    if (!parked[slot].p || b.cap > parked[slot].cap) { ie_scratch t = parked[slot]; parked[slot] = b; b = t; }
    __atomic_store_n(&parked_lock, 0, __ATOMIC_RELEASE);
    free(b.p);
}

#define IE_SCRATCH_DEPTH 4
static _Thread_local ie_scratch tl_stack[IE_SCRATCH_DEPTH];
static _Thread_local int tl_depth = 0;
static _Thread_local int tl_registered = 0;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static size_t tl_bytes = 0;     /* all threads' buffers, atomic */

/* the key's destructor, at the end of a thread that took thread scratch: v is that thread's tl_stack */
static void tl_release(void* v)
{
    ie_scratch* st = v;
    for (int i = 0; i < IE_SCRATCH_DEPTH; i++) {
        __atomic_sub_fetch(&tl_bytes, st[i].cap * sizeof(float), __ATOMIC_RELAXED);
        free(st[i].p);
        st[i] = (ie_scratch){ NULL, 0, 0 };
    }
}

static void tl_key_make(void) { pthread_key_create(&tl_key, tl_release); }

size_t ie_scratch_thread_bytes(void) { return __atomic_load_n(&tl_bytes, __ATOMIC_RELAXED); }

ie_scratch ie_scratch_take(size_t nfloats, ie_scratch_kind kind)
{
    /* deeper nesting than any kernel does: the shared pool */
    if (kind == IE_SCRATCH_SHARED || tl_depth == IE_SCRATCH_DEPTH) return shared_take(nfloats);
    ie_scratch* s = &tl_stack[tl_depth];
    if (nfloats > s->cap) {
        if (!tl_registered) {
            pthread_once(&tl_once, tl_key_make);
            pthread_setspecific(tl_key, tl_stack);
            tl_registered = 1;
        }
        __atomic_sub_fetch(&tl_bytes, s->cap * sizeof(float), __ATOMIC_RELAXED);
        free(s->p);
        const size_t bytes = (nfloats * sizeof(float) + 4095) & ~(size_t)4095;
        s->p = aligned_alloc(4096, bytes);
        s->cap = s->p ? bytes / sizeof(float) : 0;
        __atomic_add_fetch(&tl_bytes, s->cap * sizeof(float), __ATOMIC_RELAXED);
        if (!s->p) return (ie_scratch){ NULL, 0, -1 };
    }
    s->depth = tl_depth++;
    return *s;
}

void ie_scratch_park(ie_scratch b)
{
    if (!b.p) return;
    if (b.depth < 0) { shared_park(b); return; }
    tl_depth = b.depth;
}
