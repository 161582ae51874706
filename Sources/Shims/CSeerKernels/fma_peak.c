// The single-thread FMA peak of this CPU, measured: `bench/engine` reports its figures as a fraction of it.
// Independent accumulator chains (more than FMA latency x FMA ports) so the loop is bound by FMA throughput alone.
#include "seer_kernels.h"

#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool avx2_fma_supported(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE) || !(ecx & bit_FMA)) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & bit_AVX2)) return false;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0x6) == 0x6;  // SSE and AVX register state saved by the OS
}

// More chains than FMA latency (4) x ports (2), and with the two constants within the register file: 32 zmm
// registers for AVX-512, only 16 ymm for AVX2 (16 chains there would spill to memory).
#define CHAINS 16
#define CHAINS_AVX2 12

__attribute__((target("avx512f"))) static double avx512_run(long iterations, volatile float *sink) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    double t = now() - t0;
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * CHAINS * (double)iterations / t / 1e9;
}

__attribute__((target("avx2,fma"))) static double avx2_run(long iterations, volatile float *sink) {
    __m256 acc[CHAINS_AVX2];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS_AVX2; i++) acc[i] = _mm256_set1_ps((float)i);
    double t0 = now();
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS_AVX2; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    double t = now() - t0;
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS_AVX2; i++) s = _mm256_add_ps(s, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[7];
    return 2.0 * 8 * CHAINS_AVX2 * (double)iterations / t / 1e9;
}

const char *seer_best_vector_isa(void) {
    if (seer_direct_conv_available()) return "avx512";
    if (avx2_fma_supported()) return "avx2";
    return "none";
}

bool seer_runs_isa(const char *isa) {
    if (!strcmp(isa, "avx512")) return seer_direct_conv_available();
    if (!strcmp(isa, "avx2")) return avx2_fma_supported();
    return false;
}

double seer_fma_peak_gflops(const char *isa, long iterations, int runs) {
    volatile float sink = 0;
    double best = 0;
    if (!seer_runs_isa(isa)) return 0;
    bool avx512 = !strcmp(isa, "avx512");
    for (int r = 0; r < runs; r++) {
        double g = avx512 ? avx512_run(iterations, &sink) : avx2_run(iterations, &sink);
        if (g > best) best = g;
    }
    return best;
}
#else
const char *seer_best_vector_isa(void) { return "none"; }
bool seer_runs_isa(const char *isa) { (void)isa; return false; }
double seer_fma_peak_gflops(const char *isa, long iterations, int runs) {
    (void)isa, (void)iterations, (void)runs;
    return 0;
}
#endif
