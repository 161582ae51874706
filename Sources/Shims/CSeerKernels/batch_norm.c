// Batch normalization's training passes over NCHW tensors, compiled for AVX-512, AVX2 + FMA and the x86-64 baseline.
// The per-channel sums are reductions: C's strict order would make them one serial chain of additions (4 cycles
// each), so each body lets the compiler reassociate them into vector accumulators. Sums run in float within a plane
// and in double across planes, as the Swift reference did.
#include "seer_kernels.h"

#include <math.h>

#define ALWAYS_INLINE __attribute__((always_inline)) static inline

ALWAYS_INLINE float plane_sum(const float *x, long n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

ALWAYS_INLINE float plane_squared_deviation(const float *x, long n, float mean) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (long i = 0; i < n; i++) {
        float d = x[i] - mean;
        s += d * d;
    }
    return s;
}

ALWAYS_INLINE void forward_body(const float *x, float *y, long batch, long channels, long plane, long c0, long c1,
                                const float *gamma, const float *beta, float epsilon, float *mean_out,
                                float *variance_out, float *inv_std_out) {
    const double count = (double)batch * (double)plane;
    for (long c = c0; c < c1; c++) {
        double sum = 0;
        for (long n = 0; n < batch; n++) sum += plane_sum(x + (n * channels + c) * plane, plane);
        const float mean = (float)(sum / count);
        double squares = 0;
        for (long n = 0; n < batch; n++) squares += plane_squared_deviation(x + (n * channels + c) * plane, plane, mean);
        const float variance = (float)(squares / count);
        const float inv_std = 1.0f / sqrtf(variance + epsilon);
        mean_out[c] = mean;
        variance_out[c] = variance;
        inv_std_out[c] = inv_std;
        // y = (x - mean) * inv_std * gamma + beta, as one multiply-add.
        const float scale = gamma[c] * inv_std, shift = beta[c] - mean * scale;
        for (long n = 0; n < batch; n++) {
            const float *src = x + (n * channels + c) * plane;
            float *dst = y + (n * channels + c) * plane;
            for (long i = 0; i < plane; i++) dst[i] = src[i] * scale + shift;
        }
    }
}

ALWAYS_INLINE void backward_body(const float *x, const float *dy, float *dx, long batch, long channels, long plane,
                                 long c0, long c1, const float *gamma, const float *mean, const float *inv_std,
                                 float *dgamma, float *dbeta) {
    const float count = (float)batch * (float)plane;
    for (long c = c0; c < c1; c++) {
        const float m = mean[c], inv = inv_std[c];
        double sum_dy = 0, sum_dy_centered = 0;
        for (long n = 0; n < batch; n++) {
            const float *xs = x + (n * channels + c) * plane, *ds = dy + (n * channels + c) * plane;
            float s = 0, t = 0;
            {
#pragma clang fp reassociate(on)
                for (long i = 0; i < plane; i++) {
                    s += ds[i];
                    t += ds[i] * (xs[i] - m);
                }
            }
            sum_dy += s;
            sum_dy_centered += t;
        }
        // With xhat = (x - mean) * inv: dgamma = sum dy * xhat, dbeta = sum dy, and
        // dx = gamma * inv / count * (count * dy - dbeta - xhat * dgamma) = a * dy + b * x + d.
        const float sum_dy_xhat = (float)sum_dy_centered * inv, sum = (float)sum_dy;
        dgamma[c] = sum_dy_xhat;
        dbeta[c] = sum;
        const float k = gamma[c] * inv / count;
        const float a = k * count, b = -k * sum_dy_xhat * inv, d = -k * sum - b * m;
        for (long n = 0; n < batch; n++) {
            const float *xs = x + (n * channels + c) * plane, *ds = dy + (n * channels + c) * plane;
            float *out = dx + (n * channels + c) * plane;
            for (long i = 0; i < plane; i++) out[i] = a * ds[i] + b * xs[i] + d;
        }
    }
}

#define BATCH_NORM_VARIANT(suffix, target_attribute)                                                                  \
    target_attribute static void forward_##suffix(                                                                    \
        const float *x, float *y, long batch, long channels, long plane, long c0, long c1, const float *gamma,         \
        const float *beta, float epsilon, float *mean, float *variance, float *inv_std) {                             \
        forward_body(x, y, batch, channels, plane, c0, c1, gamma, beta, epsilon, mean, variance, inv_std);            \
    }                                                                                                                 \
    target_attribute static void backward_##suffix(                                                                   \
        const float *x, const float *dy, float *dx, long batch, long channels, long plane, long c0, long c1,          \
        const float *gamma, const float *mean, const float *inv_std, float *dgamma, float *dbeta) {                   \
        backward_body(x, dy, dx, batch, channels, plane, c0, c1, gamma, mean, inv_std, dgamma, dbeta);                \
    }

BATCH_NORM_VARIANT(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))))
BATCH_NORM_VARIANT(avx2, __attribute__((target("avx2,fma"))))
BATCH_NORM_VARIANT(baseline, )

typedef void (*forward_kernel)(const float *, float *, long, long, long, long, long, const float *, const float *, float,
                               float *, float *, float *);
typedef void (*backward_kernel)(const float *, const float *, float *, long, long, long, long, long, const float *,
                                const float *, const float *, float *, float *);

static const struct {
    forward_kernel forward;
    backward_kernel backward;
} variants[] = {
    [SEER_ISA_BASELINE] = {forward_baseline, backward_baseline},
    [SEER_ISA_AVX2] = {forward_avx2, backward_avx2},
    [SEER_ISA_AVX512] = {forward_avx512, backward_avx512},
};

static seer_vector_isa checked(seer_vector_isa isa) {
    return isa == SEER_ISA_AVX2 || isa == SEER_ISA_AVX512 ? isa : SEER_ISA_BASELINE;
}

void seer_batch_norm_forward_training(seer_vector_isa isa, const float *x, float *y, long batch, long channels,
                                      long plane, long c0, long c1, const float *gamma, const float *beta,
                                      float epsilon, float *mean, float *variance, float *inv_std) {
    variants[checked(isa)].forward(x, y, batch, channels, plane, c0, c1, gamma, beta, epsilon, mean, variance, inv_std);
}

void seer_batch_norm_backward(seer_vector_isa isa, const float *x, const float *dy, float *dx, long batch,
                              long channels, long plane, long c0, long c1, const float *gamma, const float *mean,
                              const float *inv_std, float *dgamma, float *dbeta) {
    variants[checked(isa)].backward(x, dy, dx, batch, channels, plane, c0, c1, gamma, mean, inv_std, dgamma, dbeta);
}
