// Which compiled variant of the engine's own kernels (batch_norm.c, activation_quantizer.c) runs on this CPU.
#include "seer_kernels.h"

#include <stdlib.h>
#include <strings.h>

seer_vector_isa seer_kernel_isa(void) {
    static int cached = -1;
    if (cached < 0) {
        seer_vector_isa isa = seer_runs_isa("avx512") ? SEER_ISA_AVX512
                              : seer_runs_isa("avx2") ? SEER_ISA_AVX2 : SEER_ISA_BASELINE;
        // The cap that makes oneDNN generate another ISA's code caps these kernels too, so that one knob
        // turns an AVX-512 host into a stand-in for an AVX2 one.
        const char *cap = getenv("DNNL_MAX_CPU_ISA");
        if (cap && isa == SEER_ISA_AVX512 && !strncasecmp(cap, "AVX2", 4)) isa = SEER_ISA_AVX2;
        if (cap && !strncasecmp(cap, "SSE41", 5)) isa = SEER_ISA_BASELINE;
        cached = isa;
    }
    return (seer_vector_isa)cached;
}

bool seer_kernel_isa_runs(seer_vector_isa isa) {
    switch (isa) {
    case SEER_ISA_AVX512: return seer_runs_isa("avx512");
    case SEER_ISA_AVX2: return seer_runs_isa("avx2");
    default: return true;
    }
}
