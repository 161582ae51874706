// 3x3, stride 1, padding 1 convolutions by Winograd's F(2x2, 3x3): each 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A
// over a 4x4 input tile d, 16 multiplications per tile and channel pair instead of 36. Per chunk of tiles sized to
// stay in L2: the input transform writes V[16][tile][in], 16 matrix products M[e] = V[e] U[e] run a 6x16 register
// block of FMAs, and the output transform adds the bias (and the residual already in dst), applies the epilogue
// (ReLU, cap, fake quantization) and stores.
// Activations are oneDNN's blocked layouts nChw8c / nChw16c, whose channel groups of 8 are one AVX2 vector.
#include "seer_kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma")))
#define INLINE __attribute__((always_inline)) static inline
#define ROWS 6          // tiles per register block
#define PANEL 16        // output channels per register block (two vectors)
// One chunk's V and M: with 64-channel weights (U, 256 KiB) they fit Zen 2's 512 KiB L2; on this AMD EPYC's 1 MiB L2
// 192 and 384 KiB measured alike.
#define CHUNK_BYTES (192 * 1024)

struct seer_winograd {
    int in_channels, out_channels, chunk;
    float *u;     // [16][panel][in][panel width]: the transformed weights, in the order the products read them
    float *bias;  // [out], zero when there is none
    size_t v_stride, m_stride; // between the 16 matrices of one chunk's transformed input V and products M
};

// One run's working memory: V[16][chunk][in], then M[16][chunk][out], each matrix `v_stride` / `m_stride` apart.
typedef struct {
    float *v, *m;
} chunk_memory;

// The distance between two of the 16 matrices: a whole number of 4 KiB pages would put the 16 rows a transform
// writes or reads into one L1 set, so it is offset by a cache line.
static size_t matrix_stride(int chunk, int channels) {
    size_t floats = (size_t)chunk * (size_t)channels;
    return (floats + 15) / 16 * 16 + 16;
}

bool seer_winograd_supports(int in_channels, int out_channels, int block) {
    return (block == 8 || block == 16) && in_channels > 0 && out_channels > 0 && in_channels % block == 0
        && out_channels % block == 0 && seer_kernel_isa_runs(SEER_ISA_AVX2);
}

seer_winograd *seer_winograd_create(int in_channels, int out_channels, const float *weights, const float *bias) {
    if (in_channels <= 0 || out_channels <= 0 || in_channels % 8 || out_channels % 8) return NULL;
    seer_winograd *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->in_channels = in_channels;
    w->out_channels = out_channels;
    int chunk = CHUNK_BYTES / (int)(16 * sizeof(float) * (size_t)(in_channels + out_channels));
    w->chunk = chunk < ROWS ? ROWS : chunk / ROWS * ROWS;
    size_t weights_count = 16 * (size_t)in_channels * (size_t)out_channels;
    w->u = aligned_alloc(64, weights_count * sizeof(float));
    w->bias = calloc((size_t)out_channels, sizeof(float));
    w->v_stride = matrix_stride(w->chunk, in_channels);
    w->m_stride = matrix_stride(w->chunk, out_channels);
    if (!w->u || !w->bias) {
        seer_winograd_destroy(w);
        return NULL;
    }
    if (bias) memcpy(w->bias, bias, sizeof(float) * (size_t)out_channels);
    for (int o = 0; o < out_channels; o++) {
        int panel = o / PANEL, width = out_channels - panel * PANEL < PANEL ? out_channels - panel * PANEL : PANEL;
        for (int i = 0; i < in_channels; i++) {
            const float *g = weights + ((size_t)o * (size_t)in_channels + (size_t)i) * 9;
            float gg[4][3];  // G g
            for (int c = 0; c < 3; c++) {
                gg[0][c] = g[c];
                gg[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
                gg[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
                gg[3][c] = g[6 + c];
            }
            for (int r = 0; r < 4; r++) {
                float u[4] = {gg[r][0], 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]), 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]),
                              gg[r][2]};
                for (int c = 0; c < 4; c++) {
                    size_t e = (size_t)(r * 4 + c);
                    w->u[e * (size_t)in_channels * (size_t)out_channels
                         + (size_t)panel * PANEL * (size_t)in_channels + (size_t)i * (size_t)width
                         + (size_t)(o - panel * PANEL)] = u[c];
                }
            }
        }
    }
    return w;
}

void seer_winograd_destroy(seer_winograd *w) {
    if (!w) return;
    free(w->u);
    free(w->bias);
    free(w);
}

size_t seer_winograd_work_size(const seer_winograd *w) { return 16 * (w->v_stride + w->m_stride) * sizeof(float); }

// Where channel group `group` (8 channels) of pixel (n, y, x) lives in a blocked layout of `block` channels.
INLINE size_t blocked_offset(int n, int group, int y, int x, int channels, int height, int width, int block) {
    int c = group * 8;
    return ((((size_t)n * (size_t)(channels / block) + (size_t)(c / block)) * (size_t)height + (size_t)y)
                * (size_t)width + (size_t)x) * (size_t)block + (size_t)(c % block);
}

TARGET INLINE void input_transform(const seer_winograd *w, const float *src, int n, int ty, int tx, int height,
                                   int width, int block, int tile, float *v) {
    const int in = w->in_channels;
    const size_t e_stride = w->v_stride;
    const int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= height && x0 + 4 <= width;
    for (int group = 0; group < in / 8; group++) {
        __m256 d[4][4];
        const float *base = src + blocked_offset(n, group, 0, 0, in, height, width, block);
        // Four tiles ahead along the row: the hardware prefetchers miss these short strided runs (measured: the
        // transform of a 3 MB source ran at L3 latency).
        for (int r = 0; r < 4; r++) {
            int y = y0 + r;
            if ((unsigned)y < (unsigned)height)
                _mm_prefetch((const char *)(base + ((size_t)y * (size_t)width + (size_t)(x0 + 8 < width ? x0 + 8 : width - 1)) * (size_t)block), _MM_HINT_T0);
        }
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                int y = y0 + r, x = x0 + c;
                d[r][c] = inside || ((unsigned)y < (unsigned)height && (unsigned)x < (unsigned)width)
                              ? _mm256_loadu_ps(base + ((size_t)y * (size_t)width + (size_t)x) * (size_t)block)
                              : _mm256_setzero_ps();
            }
        __m256 t[4][4];
        for (int c = 0; c < 4; c++) {
            t[0][c] = _mm256_sub_ps(d[0][c], d[2][c]);
            t[1][c] = _mm256_add_ps(d[1][c], d[2][c]);
            t[2][c] = _mm256_sub_ps(d[2][c], d[1][c]);
            t[3][c] = _mm256_sub_ps(d[1][c], d[3][c]);
        }
        float *out = v + (size_t)tile * (size_t)in + (size_t)group * 8;
        for (int r = 0; r < 4; r++) {
            _mm256_storeu_ps(out + (size_t)(r * 4 + 0) * e_stride, _mm256_sub_ps(t[r][0], t[r][2]));
            _mm256_storeu_ps(out + (size_t)(r * 4 + 1) * e_stride, _mm256_add_ps(t[r][1], t[r][2]));
            _mm256_storeu_ps(out + (size_t)(r * 4 + 2) * e_stride, _mm256_sub_ps(t[r][2], t[r][1]));
            _mm256_storeu_ps(out + (size_t)(r * 4 + 3) * e_stride, _mm256_sub_ps(t[r][1], t[r][3]));
        }
    }
}

// c[r][0..8*VECTORS) = sum over k < depth of a[r * lda + k] * b[k * VECTORS * 8 + ...], r < rows.
#define BLOCK_KERNEL(rows, vectors)                                                                                   \
    TARGET static void block_##rows##x##vectors(const float *a, size_t lda, const float *b, int depth, float *c,      \
                                                size_t ldc) {                                                         \
        __m256 acc[rows][vectors];                                                                                    \
        for (int r = 0; r < rows; r++)                                                                                \
            for (int j = 0; j < vectors; j++) acc[r][j] = _mm256_setzero_ps();                                        \
        for (int k = 0; k < depth; k++) {                                                                             \
            __m256 bk[vectors];                                                                                       \
            for (int j = 0; j < vectors; j++) bk[j] = _mm256_loadu_ps(b + (size_t)k * vectors * 8 + (size_t)j * 8);   \
            for (int r = 0; r < rows; r++) {                                                                          \
                __m256 ar = _mm256_broadcast_ss(a + (size_t)r * lda + (size_t)k);                                     \
                for (int j = 0; j < vectors; j++) acc[r][j] = _mm256_fmadd_ps(ar, bk[j], acc[r][j]);                  \
            }                                                                                                         \
        }                                                                                                             \
        for (int r = 0; r < rows; r++)                                                                                \
            for (int j = 0; j < vectors; j++) _mm256_storeu_ps(c + (size_t)r * ldc + (size_t)j * 8, acc[r][j]);       \
    }
BLOCK_KERNEL(6, 2) BLOCK_KERNEL(5, 2) BLOCK_KERNEL(4, 2) BLOCK_KERNEL(3, 2) BLOCK_KERNEL(2, 2) BLOCK_KERNEL(1, 2)
BLOCK_KERNEL(6, 1) BLOCK_KERNEL(5, 1) BLOCK_KERNEL(4, 1) BLOCK_KERNEL(3, 1) BLOCK_KERNEL(2, 1) BLOCK_KERNEL(1, 1)

typedef void (*block_kernel)(const float *, size_t, const float *, int, float *, size_t);
static const block_kernel kernels[2][ROWS + 1] = {
    {NULL, block_1x1, block_2x1, block_3x1, block_4x1, block_5x1, block_6x1},
    {NULL, block_1x2, block_2x2, block_3x2, block_4x2, block_5x2, block_6x2},
};

// M[e] = V[e] U[e] for the chunk's `tiles` tiles, every e.
TARGET static void products(const seer_winograd *w, chunk_memory work, int tiles) {
    const int in = w->in_channels, out = w->out_channels;
    for (int e = 0; e < 16; e++) {
        const float *v = work.v + (size_t)e * w->v_stride;
        const float *u = w->u + (size_t)e * (size_t)in * (size_t)out;
        float *m = work.m + (size_t)e * w->m_stride;
        for (int panel = 0; panel * PANEL < out; panel++) {
            int width = out - panel * PANEL < PANEL ? out - panel * PANEL : PANEL;
            const float *b = u + (size_t)panel * PANEL * (size_t)in;
            for (int t = 0; t < tiles; t += ROWS) {
                int rows = tiles - t < ROWS ? tiles - t : ROWS;
                kernels[width / 8 - 1][rows](v + (size_t)t * (size_t)in, (size_t)in, b, in,
                                             m + (size_t)t * (size_t)out + (size_t)panel * PANEL, (size_t)out);
            }
        }
    }
}

// The epilogue's constants as vectors.
typedef struct {
    bool relu, capped, quantize;
    __m256 cap, lo, hi, inv, step;
} epilogue_vectors;

TARGET INLINE epilogue_vectors vectors_of(const seer_winograd_epilogue *e) {
    return (epilogue_vectors){e->cap >= 0, e->cap >= 0 && !isinf(e->cap), e->quantize, _mm256_set1_ps(e->cap),
                              _mm256_set1_ps(e->lo), _mm256_set1_ps(e->hi), _mm256_set1_ps(e->inv),
                              _mm256_set1_ps(e->step)};
}

// bias, the residual already in dst, then the epilogue, each operation rounded on its own as oneDNN's post-ops are.
TARGET INLINE __m256 finish(__m256 y, __m256 bias, const float *dst, bool accumulate, const epilogue_vectors *e) {
    y = _mm256_add_ps(y, bias);
    if (accumulate) y = _mm256_add_ps(y, _mm256_loadu_ps(dst));
    if (e->relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
    if (e->capped) y = _mm256_min_ps(y, e->cap);
    if (e->quantize) {
        y = _mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(y, e->lo), e->hi), e->inv);
        y = _mm256_mul_ps(_mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), e->step);
    }
    return y;
}

TARGET INLINE void output_transform(const seer_winograd *w, const float *products, float *dst, int n, int ty, int tx,
                                    int height, int width, int block, int tile, bool accumulate,
                                    const epilogue_vectors *e) {
    const int out = w->out_channels;
    const size_t e_stride = w->m_stride;
    const float *m = products + (size_t)tile * (size_t)out;
    for (int group = 0; group < out / 8; group++) {
        __m256 s[2][4];
        for (int c = 0; c < 4; c++) {
            __m256 m0 = _mm256_loadu_ps(m + (size_t)(0 + c) * e_stride + (size_t)group * 8);
            __m256 m1 = _mm256_loadu_ps(m + (size_t)(4 + c) * e_stride + (size_t)group * 8);
            __m256 m2 = _mm256_loadu_ps(m + (size_t)(8 + c) * e_stride + (size_t)group * 8);
            __m256 m3 = _mm256_loadu_ps(m + (size_t)(12 + c) * e_stride + (size_t)group * 8);
            s[0][c] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            s[1][c] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        __m256 bias = _mm256_loadu_ps(w->bias + group * 8);
        float *base = dst + blocked_offset(n, group, 0, 0, out, height, width, block);
        for (int r = 0; r < 2 && 2 * ty + r < height; r++)
            _mm_prefetch((const char *)(base + ((size_t)(2 * ty + r) * (size_t)width + (size_t)(2 * tx + 8 < width ? 2 * tx + 8 : width - 1)) * (size_t)block), _MM_HINT_T0);
        for (int r = 0; r < 2; r++) {
            int y = 2 * ty + r;
            if (y >= height) break;
            __m256 y0 = _mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), s[r][2]);
            __m256 y1 = _mm256_sub_ps(_mm256_sub_ps(s[r][1], s[r][2]), s[r][3]);
            float *p = base + ((size_t)y * (size_t)width + (size_t)(2 * tx)) * (size_t)block;
            _mm256_storeu_ps(p, finish(y0, bias, p, accumulate, e));
            if (2 * tx + 1 < width) _mm256_storeu_ps(p + block, finish(y1, bias, p + block, accumulate, e));
        }
    }
}

TARGET static void run_avx2(const seer_winograd *w, const float *src, float *dst, int batch, int height, int width,
                            int block, bool accumulate, const seer_winograd_epilogue *epilogue, float *work) {
    chunk_memory memory = {work, work + 16 * w->v_stride};
    const epilogue_vectors e = vectors_of(epilogue);
    const int tiles_h = (height + 1) / 2, tiles_w = (width + 1) / 2;
    const long per_image = (long)tiles_h * tiles_w, total = per_image * batch;
    for (long start = 0; start < total; start += w->chunk) {
        int tiles = total - start < w->chunk ? (int)(total - start) : w->chunk;
        for (int t = 0; t < tiles; t++) {
            long g = start + t;
            int n = (int)(g / per_image), rest = (int)(g % per_image);
            input_transform(w, src, n, rest / tiles_w, rest % tiles_w, height, width, block, t, memory.v);
        }
        products(w, memory, tiles);
        for (int t = 0; t < tiles; t++) {
            long g = start + t;
            int n = (int)(g / per_image), rest = (int)(g % per_image);
            output_transform(w, memory.m, dst, n, rest / tiles_w, rest % tiles_w, height, width, block, t, accumulate,
                             &e);
        }
    }
}

void seer_winograd_run(const seer_winograd *w, const float *src, float *dst, int batch, int height, int width,
                       int block, bool accumulate, const seer_winograd_epilogue *epilogue, float *work) {
    run_avx2(w, src, dst, batch, height, width, block, accumulate, epilogue, work);
}
