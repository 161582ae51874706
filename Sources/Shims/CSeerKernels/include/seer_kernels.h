// Hand-written CPU kernels behind SeerEngine's inference path. No Swift API: SeerEngine wraps these.
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

#endif
