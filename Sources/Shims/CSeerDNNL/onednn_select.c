// Which implementation a primitive gets (and, for Winograd's convolutions, whether oneDNN's at all). oneDNN takes the first that fits, and on AVX-512 that is often
// a brgemm-based one (brgconv, brdgmm for depthwise), tuned on Intel cores. On AMD Zen 4, whose AVX-512 runs on
// 256-bit units, those measured 1.5 to 3.5x slower than the older JIT kernels (jit_1x1, jit_dw) of the same ISA
// (mobilenetv2-tiny's 1x1 and depthwise layers, DNNL_VERBOSE; bench/results/issue-14/amd-zen4), so there the shim
// passes them over whenever a JIT kernel of another family serves the primitive.
#include "onednn_select.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

// -1: not decided yet (the CPU's default on first use), else 0 or 1.
static _Atomic int brgemm_setting = -1;

static bool cpu_is_amd(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    char vendor[13];
    memcpy(vendor, &ebx, 4);
    memcpy(vendor + 4, &edx, 4);
    memcpy(vendor + 8, &ecx, 4);
    vendor[12] = 0;
    return strcmp(vendor, "AuthenticAMD") == 0;
#else
    return false;
#endif
}

void seer_dnnl_set_brgemm(bool allowed) { atomic_store(&brgemm_setting, allowed ? 1 : 0); }

// SEER_ONEDNN_BRGEMM=on|off, else the CPU's default (the executables refuse other values at start).
static int initial_setting(void) {
    const char *value = getenv("SEER_ONEDNN_BRGEMM");
    if (value && strcmp(value, "on") == 0) return 1;
    if (value && strcmp(value, "off") == 0) return 0;
    return cpu_is_amd() ? 0 : 1;
}

bool seer_dnnl_brgemm_allowed(void) {
    int setting = atomic_load(&brgemm_setting);
    if (setting < 0) {
        int fallback = initial_setting();
        atomic_compare_exchange_strong(&brgemm_setting, &setting, fallback);
        setting = atomic_load(&brgemm_setting);
    }
    return setting == 1;
}

// -1: not read yet, else a seer_winograd_setting.
static _Atomic int winograd_setting = -1;

void seer_dnnl_set_winograd(seer_winograd_setting setting) { atomic_store(&winograd_setting, (int)setting); }

seer_winograd_setting seer_dnnl_winograd(void) {
    int setting = atomic_load(&winograd_setting);
    if (setting < 0) {
        // SEER_WINOGRAD=auto|on|off (the executables refuse other values at start).
        const char *value = getenv("SEER_WINOGRAD");
        int initial = value && strcmp(value, "on") == 0 ? SEER_WINOGRAD_ON
                    : value && strcmp(value, "off") == 0 ? SEER_WINOGRAD_OFF : SEER_WINOGRAD_AUTO;
        atomic_compare_exchange_strong(&winograd_setting, &setting, initial);
        setting = atomic_load(&winograd_setting);
    }
    return (seer_winograd_setting)setting;
}

bool seer_dnnl_isa_is_avx512(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

static bool name_starts(const_dnnl_primitive_desc_t pd, const char *prefix) {
    const char *name = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name
        && strncmp(name, prefix, strlen(prefix)) == 0;
}

bool seer_dnnl_is_brgemm(const_dnnl_primitive_desc_t pd) { return name_starts(pd, "brg") || name_starts(pd, "brdgmm"); }

dnnl_status_t seer_dnnl_primitive_desc_create(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                                              const_dnnl_primitive_attr_t attr, dnnl_engine_t engine,
                                              const_dnnl_primitive_desc_t hint) {
    if (seer_dnnl_brgemm_allowed()) return dnnl_primitive_desc_create(pd, desc, attr, engine, hint);
    *pd = NULL;
    dnnl_primitive_desc_iterator_t it = NULL;
    dnnl_status_t st = dnnl_primitive_desc_iterator_create(&it, desc, attr, engine, hint);
    if (st != dnnl_success) return st;
    // The first brgemm implementation, kept in case nothing but a reference one follows it.
    dnnl_primitive_desc_t brgemm = NULL;
    do {
        dnnl_primitive_desc_t candidate = dnnl_primitive_desc_iterator_fetch(it);
        if (!candidate) continue;
        if (seer_dnnl_is_brgemm(candidate)) {
            if (!brgemm) brgemm = candidate;
            else dnnl_primitive_desc_destroy(candidate);
            continue;
        }
        if (brgemm && name_starts(candidate, "ref")) {
            dnnl_primitive_desc_destroy(candidate);
            break;
        }
        *pd = candidate;
        break;
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (*pd) {
        if (brgemm) dnnl_primitive_desc_destroy(brgemm);
        return dnnl_success;
    }
    if (brgemm) {
        *pd = brgemm;
        return dnnl_success;
    }
    return dnnl_unimplemented;
}
