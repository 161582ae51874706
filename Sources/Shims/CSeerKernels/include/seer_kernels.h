// Hand-written CPU kernels behind SeerEngine. No Swift API: SeerEngine wraps these.
#ifndef SEER_KERNELS_H
#define SEER_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/// Whether this CPU (and OS) runs the AVX-512 kernels; callers fall back to OpenBLAS when it does not.
bool seer_direct_conv_available(void);

/// Output channels per weight block of the packed layout.
#define SEER_DIRECT_CONV_BLOCK 8

/// Floats `seer_direct_conv_pack` writes: output channels rounded up to whole blocks, times channels * taps.
size_t seer_direct_conv_packed_count(int out_channels, int channels, int taps);

/// [out][channels][taps] weights -> blocks of SEER_DIRECT_CONV_BLOCK output channels laid out [block][c][t][o],
/// the missing channels of the last block zero.
void seer_direct_conv_pack(const float *weights, int out_channels, int channels, int taps, float *packed);

/// out[o * ldo + n] = sum over c < channels, t < taps of w[o][c][t] * x[c * plane + offsets[t] + n], n < count.
/// Reads x only at those indices and writes out only at n < count of each output row.
void seer_direct_conv(const float *x, ptrdiff_t plane, const ptrdiff_t *offsets, int taps, int channels,
                      const float *packed, int out_channels, ptrdiff_t count, float *out, ptrdiff_t ldo);

/// "avx512", "avx2" (with FMA) or "none": the widest FMA vector ISA this CPU and OS run.
const char *seer_best_vector_isa(void);

/// Whether this CPU and OS run `isa` ("avx512" or "avx2" with FMA).
bool seer_runs_isa(const char *isa);

/// Single-thread FMA throughput in GFLOP/s (2 per lane per FMA) on `isa` ("avx512" or "avx2"): the best of `runs`
/// loops of `iterations` x 16 (AVX2: 12) independent FMAs (the best, so that loops a loaded machine preempted do not count);
/// 0 where the CPU does not run `isa`.
double seer_fma_peak_gflops(const char *isa, long iterations, int runs);

/// The vector ISA a kernel below is compiled for.
typedef enum { SEER_ISA_BASELINE = 0, SEER_ISA_AVX2 = 1, SEER_ISA_AVX512 = 2 } seer_vector_isa;

/// The widest ISA this CPU runs, capped where DNNL_MAX_CPU_ISA caps oneDNN (AVX2, SSE41), so that one setting makes an
/// AVX-512 host run what an AVX2 host would.
seer_vector_isa seer_kernel_isa(void);

/// Whether this CPU and OS run kernels compiled for `isa`.
bool seer_kernel_isa_runs(seer_vector_isa isa);

/// Training-mode batch normalization of channels [c0, c1) of NCHW `x` ([batch][channels][plane]): writes each channel's
/// batch mean, biased variance and 1 / sqrt(variance + epsilon), and y = (x - mean) * inv_std * gamma + beta.
void seer_batch_norm_forward_training(seer_vector_isa isa, const float *x, float *y, long batch, long channels,
                                      long plane, long c0, long c1, const float *gamma, const float *beta,
                                      float epsilon, float *mean, float *variance, float *inv_std);

/// Its backward for channels [c0, c1), from the forward's input, mean and inv_std: writes dx, and dgamma[c] and dbeta[c]
/// (not accumulated).
void seer_batch_norm_backward(seer_vector_isa isa, const float *x, const float *dy, float *dx, long batch,
                              long channels, long plane, long c0, long c1, const float *gamma, const float *mean,
                              const float *inv_std, float *dgamma, float *dbeta);

/// The activation quantizer's backward over `n` values: dx[i] = g[i] where lo < x[i] < hi, else 0; returns the clip's
/// gradient, the sum of g[i] where x[i] >= hi, minus the sum where x[i] <= lo when `is_signed`.
double seer_activation_quantizer_backward(seer_vector_isa isa, const float *x, const float *g, float *dx, long n,
                                          float lo, float hi, bool is_signed);

/// A 3x3, stride 1, padding 1 convolution by Winograd's F(2x2, 3x3) over oneDNN's blocked layouts (nChw8c, nChw16c),
/// with its weights transformed once.
typedef struct seer_winograd seer_winograd;

/// Whether `seer_winograd_run` takes these channel counts in a layout of `block` channels (8 or 16) on this CPU.
bool seer_winograd_supports(int in_channels, int out_channels, int block);

/// Transforms [out][in][3][3] `weights` and keeps `bias` (NULL: none); NULL when out of memory or when a channel count
/// is not a multiple of 8.
seer_winograd *seer_winograd_create(int in_channels, int out_channels, const float *weights, const float *bias);

void seer_winograd_destroy(seer_winograd *w);

/// The bytes of working memory a run takes (64-byte aligned, shared by runs that do not overlap in time).
size_t seer_winograd_work_size(const seer_winograd *w);

/// What follows the convolution elementwise: cap < 0: nothing, infinity: ReLU, else min(max(x, 0), cap); then when
/// `quantize` the fake quantization round(clamp(x, lo, hi) * inv) * step (ties to even, each operation rounded on
/// its own).
typedef struct {
    float cap;
    bool quantize;
    float lo, hi, inv, step;
} seer_winograd_epilogue;

/// dst = epilogue(conv(src) + bias (+ dst when `accumulate`)) over [batch][channels / block][height][width][block]
/// tensors (output the same height and width). dst must not overlap src.
void seer_winograd_run(const seer_winograd *w, const float *src, float *dst, int batch, int height, int width,
                       int block, bool accumulate, const seer_winograd_epilogue *epilogue, float *work);

#endif
