// LD_PRELOAD library that makes the process (and the processes it starts with the same environment) see a CPU
// without AVX-512, AVX-VNNI or AMX: the AVX2 host our fleet also has (AMD Zen 2), stood in for by this one.
//
// Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, "cpuid_fault" in /proc/cpuinfo) turns every CPUID instruction
// in user space into SIGSEGV. The handler executes the real CPUID with faulting briefly off, clears the feature bits
// an AVX2 CPU lacks, and resumes after the instruction. Every runtime that dispatches on CPUID (onnxruntime's MLAS,
// oneDNN, OpenBLAS, the engine's own kernels) then picks its AVX2 code, so both sides of a comparison run the
// same ISA, unlike DNNL_MAX_CPU_ISA, which onnxruntime ignores.
//
// The dynamic loader reads CPUID before this library loads, so glibc's own string functions keep their AVX-512
// variants. A runtime that installs its own SIGSEGV handler later would break the scheme: the wrapper script turns
// off the Swift runtime's backtracer for that reason.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static void real_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(subleaf));
}

#ifndef CPUID_AVX2_PROBE
static long arch_prctl(int code, unsigned long arg) { return syscall(SYS_arch_prctl, code, arg); }

static void mask_avx2(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
    if (leaf == 7 && subleaf == 0) {
        // EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31.
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        // ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14.
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        // EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, FP16 23, AMX-TILE 24, AMX-INT8 25.
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && subleaf == 1) {
        // EAX: AVX-VNNI 4, AVX512_BF16 5, AMX-FP16 21, AVX-IFMA 23.
        r[0] &= ~((1u << 4) | (1u << 5) | (1u << 21) | (1u << 23));
    } else if (leaf == 0xD && subleaf == 0) {
        // Supported XSAVE state: opmask 5, ZMM_Hi256 6, Hi16_ZMM 7, AMX tile config 17 and data 18.
        r[0] &= ~((1u << 5) | (1u << 6) | (1u << 7) | (1u << 17) | (1u << 18));
    }
}

static void on_segv(int signal, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (ip[0] != 0x0F || ip[1] != 0xA2) {  // not CPUID: a real fault
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigaction(SIGSEGV, &dfl, NULL);
        return;  // re-executes the faulting instruction, now with the default action
    }
    uint32_t leaf = (uint32_t)g[REG_RAX], subleaf = (uint32_t)g[REG_RCX], r[4];
    arch_prctl(ARCH_SET_CPUID, 1);
    real_cpuid(leaf, subleaf, r);
    arch_prctl(ARCH_SET_CPUID, 0);
    mask_avx2(leaf, subleaf, r);
    g[REG_RAX] = r[0];
    g[REG_RBX] = r[1];
    g[REG_RCX] = r[2];
    g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
    (void)signal;
    (void)info;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || arch_prctl(ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "cpuid_avx2: CPUID faulting is not available here (no cpuid_fault in /proc/cpuinfo?)\n");
        _exit(97);
    }
}

#else
// Built as a program, the check that the wrapper makes before it runs anything: exit status 0 where CPUID (with the
// library preloaded) reports AVX2 and FMA but no AVX-512F, AVX512-VNNI or AVX-VNNI.
int main(void) {
    uint32_t r1[4], r7[4], r71[4];
    real_cpuid(1, 0, r1);
    real_cpuid(7, 0, r7);
    real_cpuid(7, 1, r71);
    const int fma = (r1[2] >> 12) & 1, avx2 = (r7[1] >> 5) & 1, avx512f = (r7[1] >> 16) & 1;
    const int vnni = (r7[2] >> 11) & 1, avx_vnni = (r71[0] >> 4) & 1;
    printf("cpuid: fma %d avx2 %d avx512f %d avx512_vnni %d avx_vnni %d\n", fma, avx2, avx512f, vnni, avx_vnni);
    return fma && avx2 && !avx512f && !vnni && !avx_vnni ? 0 : 1;
}
#endif
