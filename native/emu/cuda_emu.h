// CUDA emulation: the subset of CUDA C++ device code that cuda-kernels/*.cu use, for g++ on the CPU.
//
// The same .cu sources are compiled by nvcc (into the fatbin) and, with this header force-included and
// IE_EMULATION defined, by g++ into libimagenete-cuda-emu.so, which EmulatedDevice loads through FFM. Every
// thread of a block is a fiber (its own stack, switched by hand-written assembly on x86-64, ucontext elsewhere);
// the fibers of one block run on one OS thread, blocks are spread over OS threads with OpenMP.
//
//   __syncthreads()          real barrier: a fiber yields until every live thread of its block has arrived
//   __syncwarp(), shuffles   warp barriers over the 32 lanes (threads [32w, 32w+32) of the block, in
//                            x-fastest linear order, as on the GPU); one barrier per shuffle
//   __shared__               per-block storage: `static thread_local` (blocks on one OS thread run one by one)
//   atomics                  real atomics (blocks run concurrently on several OS threads)
//   math intrinsics          the accurate libm functions (__expf is expf: emulation is at least as accurate)
//   half, __nv_bfloat16      storage types with round-to-nearest-even conversions
//
// Not emulated: dynamic shared memory, cooperative groups, tensor-core PTX (kernels provide a portable path
// under IE_EMULATION), texture memory, clock(). A block that deadlocks (divergent barrier) or calls __trap()
// fails its launch with a message instead of hanging.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#define IE_EMULATION 1

#define __global__
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return {x, y}; }

namespace ie_emu {
/** What a kernel sees of the fiber running it (the runtime's Fiber starts with this). */
struct ThreadState {
    uint3 tid;          // threadIdx
    unsigned linear;    // x-fastest linear index in the block
    unsigned parity;    // which of the warp's two exchange buffers the next shuffle uses
};
extern thread_local ThreadState* t_current;
extern thread_local uint3 t_block_idx;
extern thread_local dim3 t_block_dim;
extern thread_local dim3 t_grid_dim;

void sync_block();
void sync_warp();
/** Publishes this lane's value, waits for the warp, returns the 32 values (valid until the lane's next exchange). */
const uint64_t* warp_exchange(uint64_t value);
[[noreturn]] void trap(const char* why);

template <class T> inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> inline T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
inline unsigned lane() { return t_current->linear & 31u; }
}  // namespace ie_emu

#define threadIdx (::ie_emu::t_current->tid)
#define blockIdx (::ie_emu::t_block_idx)
#define blockDim (::ie_emu::t_block_dim)
#define gridDim (::ie_emu::t_grid_dim)
static constexpr int warpSize = 32;

static inline void __syncthreads() { ie_emu::sync_block(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { (void) mask; ie_emu::sync_warp(); }
static inline unsigned __activemask() { return 0xffffffffu; }
[[noreturn]] static inline void __trap() { ie_emu::trap("__trap() called"); }

// ---- warp shuffles and votes (width: a power of two <= 32, segments as on the GPU) ----
template <class T> static inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
    const uint64_t* s = ie_emu::warp_exchange(ie_emu::to_bits(v));
    unsigned l = ie_emu::lane(), base = l & ~(unsigned) (width - 1);
    return ie_emu::from_bits<T>(s[base + ((unsigned) src & (unsigned) (width - 1))]);
}
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    const uint64_t* s = ie_emu::warp_exchange(ie_emu::to_bits(v));
    unsigned l = ie_emu::lane(), base = l & ~(unsigned) (width - 1), src = l ^ (unsigned) mask;
    if ((src & ~(unsigned) (width - 1)) != base) src = l;
    return ie_emu::from_bits<T>(s[src]);
}
template <class T> static inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    const uint64_t* s = ie_emu::warp_exchange(ie_emu::to_bits(v));
    unsigned l = ie_emu::lane(), base = l & ~(unsigned) (width - 1), src = l + delta;
    if (src >= base + (unsigned) width) src = l;
    return ie_emu::from_bits<T>(s[src]);
}
template <class T> static inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    const uint64_t* s = ie_emu::warp_exchange(ie_emu::to_bits(v));
    unsigned l = ie_emu::lane(), base = l & ~(unsigned) (width - 1);
    unsigned src = (l - base) >= delta ? l - delta : l;
    return ie_emu::from_bits<T>(s[src]);
}
static inline unsigned __ballot_sync(unsigned, int pred) {
    const uint64_t* s = ie_emu::warp_exchange(pred ? 1u : 0u);
    unsigned r = 0;
    for (unsigned i = 0; i < 32; i++) r |= (s[i] ? 1u : 0u) << i;
    return r;
}
static inline int __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
static inline int __all_sync(unsigned m, int pred) { return __ballot_sync(m, !pred) == 0; }

// ---- atomics (blocks run concurrently on several OS threads) ----
static inline float atomicAdd(float* p, float v) {
    uint32_t old = __atomic_load_n(reinterpret_cast<uint32_t*>(p), __ATOMIC_RELAXED), next;
    do {
        float f;
        std::memcpy(&f, &old, 4);
        f += v;
        std::memcpy(&next, &f, 4);
    } while (!__atomic_compare_exchange_n(reinterpret_cast<uint32_t*>(p), &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    float r;
    std::memcpy(&r, &old, 4);
    return r;
}
static inline double atomicAdd(double* p, double v) {
    uint64_t old = __atomic_load_n(reinterpret_cast<uint64_t*>(p), __ATOMIC_RELAXED), next;
    do {
        double f;
        std::memcpy(&f, &old, 8);
        f += v;
        std::memcpy(&next, &f, 8);
    } while (!__atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(p), &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    double r;
    std::memcpy(&r, &old, 8);
    return r;
}
static inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline int atomicMax(int* p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}
static inline int atomicMin(int* p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}
static inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
static inline float atomicExch(float* p, float v) {
    uint32_t b, r;
    std::memcpy(&b, &v, 4);
    r = __atomic_exchange_n(reinterpret_cast<uint32_t*>(p), b, __ATOMIC_RELAXED);
    float f;
    std::memcpy(&f, &r, 4);
    return f;
}
static inline int atomicCAS(int* p, int cmp, int v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- math and bit intrinsics ----
// glibc declares __expf & co. as its own internal names: macros, so that the accurate functions are called
#define __expf(x) expf(x)
#define __logf(x) logf(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __powf(a, b) powf(a, b)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline void sincospi(double x, double* s, double* c) { *s = sin(M_PI * x); *c = cos(M_PI * x); }
static inline void sincospif(float x, float* s, float* c) { *s = (float) sin(M_PI * x); *c = (float) cos(M_PI * x); }
// CUDA declares the classification functions in the global namespace
using std::isfinite;
using std::isinf;
using std::isnan;
static inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
static inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
static inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned) x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
template <class T> static inline T __ldg(const T* p) { return *p; }

// ---- 16-bit floating-point storage types (conversions round to nearest even, as the cuda_fp16/bf16 ones) ----
struct __nv_bfloat16 { unsigned short x; };
struct __half { unsigned short x; };
typedef __half half;

static inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    __nv_bfloat16 r;
    if ((b & 0x7fffffffu) > 0x7f800000u) r.x = (unsigned short) ((b >> 16) | 0x40u);   // NaN stays (quiet) NaN
    else r.x = (unsigned short) ((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
    return r;
}
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t b = (uint32_t) h.x << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { __nv_bfloat16 h; h.x = x; return h; }

static inline __half __float2half(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    uint32_t sign = (b >> 16) & 0x8000u, absb = b & 0x7fffffffu;
    __half r;
    if (absb > 0x7f800000u) { r.x = (unsigned short) (sign | 0x7e00u); return r; }        // NaN
    if (absb >= 0x477ff000u) { r.x = (unsigned short) (sign | 0x7c00u); return r; }       // rounds to >= 65520: inf
    if (absb < 0x38800000u) {                                                              // subnormal or zero in half
        if (absb < 0x33000000u) { r.x = (unsigned short) sign; return r; }               // < 2^-25: rounds to 0
        uint32_t mant = (absb & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int) (absb >> 23);                                              // 14 + (113 - exp) ... total shift
        uint32_t half_ulp = 1u << (shift - 1), rem = mant & ((1u << shift) - 1u);
        uint32_t h = mant >> shift;
        if (rem > half_ulp || (rem == half_ulp && (h & 1u))) h++;
        r.x = (unsigned short) (sign | h);
        return r;
    }
    uint32_t h = ((absb - 0x38000000u) >> 13);                                            // rebias 127 -> 15
    uint32_t rem = absb & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    r.x = (unsigned short) (sign | h);
    return r;
}
static inline __half __float2half_rn(float f) { return __float2half(f); }
static inline float __half2float(__half h) {
    uint32_t sign = (uint32_t) (h.x & 0x8000u) << 16, e = (h.x >> 10) & 0x1fu, m = h.x & 0x3ffu, b;
    if (e == 0) {
        if (m == 0) b = sign;
        else {                                                                             // subnormal: normalise
            int s = 0;
            while (!(m & 0x400u)) { m <<= 1; s++; }
            b = sign | ((uint32_t) (113 - s) << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) b = sign | 0x7f800000u | (m << 13);
    else b = sign | ((e + 112u) << 23) | (m << 13);
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
static inline unsigned short __half_as_ushort(__half h) { return h.x; }
static inline __half __ushort_as_half(unsigned short x) { __half h; h.x = x; return h; }

// ---- kernel and constant registry: how EmulatedDevice finds a kernel by name and checks its arguments ----
namespace ie_emu {
using Thunk = void (*)(void* fn, void** params);
void register_kernel(const char* name, void* fn, Thunk thunk, const char* signature);
void register_constant(const char* name, long long value);

template <class T> constexpr char sig_char() {
    if constexpr (std::is_pointer<T>::value) return 'p';
    else if constexpr (std::is_same<T, float>::value) return 'f';
    else if constexpr (std::is_same<T, double>::value) return 'd';
    else if constexpr (std::is_integral<T>::value && sizeof(T) == 4) return 'i';
    else if constexpr (std::is_integral<T>::value && sizeof(T) == 8) return 'l';
    else {
        static_assert(sizeof(T) == 0, "kernel parameters must be pointers, 32/64-bit integers, float or double");
        return '?';
    }
}
template <class... A> struct KernelThunk {
    static constexpr char signature[] = {sig_char<std::remove_cv_t<A>>()..., '\0'};
    template <size_t... I> static void call(void* fn, void** p, std::index_sequence<I...>) {
        reinterpret_cast<void (*)(A...)>(fn)(*static_cast<std::remove_cv_t<A>*>(p[I])...);
    }
    static void call(void* fn, void** p) { call(fn, p, std::index_sequence_for<A...>{}); }
};
struct KernelRegistrar {
    template <class... A> KernelRegistrar(const char* name, void (*fn)(A...)) {
        register_kernel(name, reinterpret_cast<void*>(fn), &KernelThunk<A...>::call, KernelThunk<A...>::signature);
    }
};
struct ConstantRegistrar {
    ConstantRegistrar(const char* name, long long value) { register_constant(name, value); }
};
}  // namespace ie_emu

/** Makes kernel `name` launchable by name (nvcc: nothing; the fatbin's extern "C" symbol is the entry). */
#define IE_KERNEL_EXPORT(name) static ::ie_emu::KernelRegistrar ie_kernel_reg_##name(#name, &name);
/** Publishes a launch-shape constant so that a test can check the Java side uses the same value. */
#define IE_CONSTANT_EXPORT(name) static ::ie_emu::ConstantRegistrar ie_const_reg_##name(#name, (long long) (name));
