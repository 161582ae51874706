// The activation quantizer's backward (PACT): straight-through inside the clip range, and the clip's gradient
// summed over the clipped inputs. Compiled for AVX-512, AVX2 + FMA and the x86-64 baseline; the sum is reassociated
// into vector accumulators within blocks and carried in double across them.
#include "seer_kernels.h"

#define ALWAYS_INLINE __attribute__((always_inline)) static inline
#define BLOCK 4096

ALWAYS_INLINE float block_backward(const float *x, const float *g, float *dx, long start, long end, float lo,
                                   float hi, bool is_signed) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (long i = start; i < end; i++) {
        const float v = x[i], gi = g[i];
        dx[i] = (v > lo && v < hi) ? gi : 0.0f;
        s += v >= hi ? gi : (is_signed && v <= lo ? -gi : 0.0f);
    }
    return s;
}

ALWAYS_INLINE double backward_body(const float *x, const float *g, float *dx, long n, float lo, float hi,
                                   bool is_signed) {
    double clip_gradient = 0;
    for (long start = 0; start < n; start += BLOCK) {
        const long end = start + BLOCK < n ? start + BLOCK : n;
        clip_gradient += block_backward(x, g, dx, start, end, lo, hi, is_signed);
    }
    return clip_gradient;
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) static double backward_avx512(
    const float *x, const float *g, float *dx, long n, float lo, float hi, bool is_signed) {
    return backward_body(x, g, dx, n, lo, hi, is_signed);
}

__attribute__((target("avx2,fma"))) static double backward_avx2(const float *x, const float *g, float *dx, long n,
                                                                 float lo, float hi, bool is_signed) {
    return backward_body(x, g, dx, n, lo, hi, is_signed);
}

static double backward_baseline(const float *x, const float *g, float *dx, long n, float lo, float hi,
                                 bool is_signed) {
    return backward_body(x, g, dx, n, lo, hi, is_signed);
}

double seer_activation_quantizer_backward(seer_vector_isa isa, const float *x, const float *g, float *dx, long n,
                                          float lo, float hi, bool is_signed) {
    switch (isa) {
    case SEER_ISA_AVX512: return backward_avx512(x, g, dx, n, lo, hi, is_signed);
    case SEER_ISA_AVX2: return backward_avx2(x, g, dx, n, lo, hi, is_signed);
    default: return backward_baseline(x, g, dx, n, lo, hi, is_signed);
    }
}
