// Direct convolution over a prepared (zero-padded, for strides > 1 phase-split) input: every output channel block
// x position tile accumulates in registers over channels and kernel taps, reading the input where it lies, so there
// is no im2col and no packed copy of the input. AVX-512 only: 24 of its 32 vector registers hold an 8 x 48 tile of
// accumulators, and masked loads and stores handle ragged tile ends without reading or writing past them.
#include "seer_kernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static bool avx512_supported(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & bit_AVX512F)) return false;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    // The OS saves the SSE, AVX and all three AVX-512 register states (XCR0 bits 1, 2, 5, 6, 7).
    return (lo & 0xE6) == 0xE6;
}

bool seer_direct_conv_available(void) {
    static int cached = -1;
    if (cached < 0) cached = avx512_supported() ? 1 : 0;
    return cached == 1;
}

#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

// One tile: `mr` output channels (<= 8) x `nv` vectors of 16 positions, the last vector limited to `tail` lanes.
// mr and nv are literals at every call site, so the accumulator arrays live in registers.
INLINE TARGET void tile(const float *x, ptrdiff_t plane, const ptrdiff_t *offsets, int taps, int channels,
                        const float *w, const int mr, const int nv, __mmask16 tail, float *out, ptrdiff_t ldo) {
    __m512 acc[SEER_DIRECT_CONV_BLOCK][3];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    for (int c = 0; c < channels; c++) {
        const float *xc = x + c * plane;
        for (int t = 0; t < taps; t++, w += SEER_DIRECT_CONV_BLOCK) {
            const float *xt = xc + offsets[t];
            __m512 xv[3];
            for (int v = 0; v < nv; v++)
                xv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(tail, xt + 16 * v) : _mm512_loadu_ps(xt + 16 * v);
            for (int r = 0; r < mr; r++) {
                __m512 wr = _mm512_set1_ps(w[r]);
                for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(wr, xv[v], acc[r][v]);
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            if (v == nv - 1) _mm512_mask_storeu_ps(out + r * ldo + 16 * v, tail, acc[r][v]);
            else _mm512_storeu_ps(out + r * ldo + 16 * v, acc[r][v]);
        }
}

#define ROWS_CASES(NV)                                                                                                 \
    switch (mr) {                                                                                                      \
    case 8: tile(x, plane, offsets, taps, channels, w, 8, NV, tail, out, ldo); break;                                  \
    case 7: tile(x, plane, offsets, taps, channels, w, 7, NV, tail, out, ldo); break;                                  \
    case 6: tile(x, plane, offsets, taps, channels, w, 6, NV, tail, out, ldo); break;                                  \
    case 5: tile(x, plane, offsets, taps, channels, w, 5, NV, tail, out, ldo); break;                                  \
    case 4: tile(x, plane, offsets, taps, channels, w, 4, NV, tail, out, ldo); break;                                  \
    case 3: tile(x, plane, offsets, taps, channels, w, 3, NV, tail, out, ldo); break;                                  \
    case 2: tile(x, plane, offsets, taps, channels, w, 2, NV, tail, out, ldo); break;                                  \
    default: tile(x, plane, offsets, taps, channels, w, 1, NV, tail, out, ldo); break;                                 \
    }

static TARGET void tile_dispatch(const float *x, ptrdiff_t plane, const ptrdiff_t *offsets, int taps, int channels,
                                 const float *w, int mr, int nv, __mmask16 tail, float *out, ptrdiff_t ldo) {
    if (nv == 3) { ROWS_CASES(3) }
    else if (nv == 2) { ROWS_CASES(2) }
    else { ROWS_CASES(1) }
}

// Vectors per tile: the fewest computed positions for `count`, ties to the wider tile (more reuse per load).
static int vectors_per_tile(ptrdiff_t count) {
    int best = 3;
    ptrdiff_t best_work = (count + 47) / 48 * 48;
    for (int nv = 2; nv >= 1; nv--) {
        ptrdiff_t work = (count + 16 * nv - 1) / (16 * nv) * (16 * nv);
        if (work < best_work) { best = nv; best_work = work; }
    }
    return best;
}

TARGET void seer_direct_conv(const float *x, ptrdiff_t plane, const ptrdiff_t *offsets, int taps, int channels,
                             const float *packed, int out_channels, ptrdiff_t count, float *out, ptrdiff_t ldo) {
    const int nv = vectors_per_tile(count);
    const ptrdiff_t width = 16 * nv;
    const ptrdiff_t block_floats = (ptrdiff_t)channels * taps * SEER_DIRECT_CONV_BLOCK;
    for (int o0 = 0; o0 < out_channels; o0 += SEER_DIRECT_CONV_BLOCK) {
        const int mr = out_channels - o0 < SEER_DIRECT_CONV_BLOCK ? out_channels - o0 : SEER_DIRECT_CONV_BLOCK;
        const float *w = packed + (o0 / SEER_DIRECT_CONV_BLOCK) * block_floats;
        for (ptrdiff_t n0 = 0; n0 < count; n0 += width) {
            const ptrdiff_t left = count - n0;
            int vectors = nv;
            ptrdiff_t last = 16;
            if (left < width) {
                vectors = (int)((left + 15) / 16);
                last = left - 16 * (vectors - 1);
            }
            const __mmask16 tail = (__mmask16)((1u << last) - 1u);
            tile_dispatch(x + n0, plane, offsets, taps, channels, w, mr, vectors, tail, out + o0 * ldo + n0, ldo);
        }
    }
}

#else

bool seer_direct_conv_available(void) { return false; }

void seer_direct_conv(const float *x, ptrdiff_t plane, const ptrdiff_t *offsets, int taps, int channels,
                      const float *packed, int out_channels, ptrdiff_t count, float *out, ptrdiff_t ldo) {
    (void)x; (void)plane; (void)offsets; (void)taps; (void)channels; (void)packed; (void)out_channels;
    (void)count; (void)out; (void)ldo;
    __builtin_trap();  // callers check seer_direct_conv_available() first
}

#endif

size_t seer_direct_conv_packed_count(int out_channels, int channels, int taps) {
    const size_t blocks = ((size_t)out_channels + SEER_DIRECT_CONV_BLOCK - 1) / SEER_DIRECT_CONV_BLOCK;
    return blocks * SEER_DIRECT_CONV_BLOCK * (size_t)channels * (size_t)taps;
}

void seer_direct_conv_pack(const float *weights, int out_channels, int channels, int taps, float *packed) {
    memset(packed, 0, seer_direct_conv_packed_count(out_channels, channels, taps) * sizeof(float));
    for (int o = 0; o < out_channels; o++) {
        float *block = packed + (size_t)(o / SEER_DIRECT_CONV_BLOCK) * SEER_DIRECT_CONV_BLOCK * channels * taps;
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < taps; t++)
                block[((size_t)c * taps + t) * SEER_DIRECT_CONV_BLOCK + o % SEER_DIRECT_CONV_BLOCK] =
                    weights[((size_t)o * channels + c) * taps + t];
    }
}
