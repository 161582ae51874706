// resnet20's 3x3 convolutions, full and half width (stride 1, bias, ReLU post-op, with and without the residual's sum) at batch 1 and 64,
// one thread: oneDNN's direct kernel against the engine's Winograd F(2x2, 3x3) (Sources/Shims/CSeerKernels/
// winograd_conv.c) on the same data, the best of 300 (b1) or 30 (b64) runs each, interleaved; GFLOP/s count the
// direct convolution's multiply-adds x 2 ("eff" for Winograd's). Build and run from the repository root:
//   clang -O3 -ISources/Shims/CSeerKernels/include bench/results/issue-14/winograd/winograd_harness.c \
//       Sources/Shims/CSeerKernels/*.c -o /tmp/winograd_harness -ldnnl -lm
//   OMP_NUM_THREADS=1 DNNL_MAX_CPU_ISA=AVX2 /tmp/winograd_harness          # nChw8c against jit:avx2
//   OMP_NUM_THREADS=1 BLOCK16=1 /tmp/winograd_harness                      # also nChw16c against jit:avx512_core
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include "seer_kernels.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void bench(dnnl_engine_t eng, dnnl_stream_t s, dnnl_format_tag_t tag, int block, int N, int C, int H, int sum) {
    dnnl_memory_desc_t src, w, b, dst, wplain;
    dnnl_dims_t sd = {N, C, H, H}, wd = {C, C, 3, 3}, bd = {C};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, tag);
    dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wplain, 4, wd, dnnl_f32, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&dst, 4, sd, dnnl_f32, tag);
    dnnl_dims_t st = {1,1}, dil={0,0}, pad={1,1};
    dnnl_convolution_desc_t desc;
    dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &w, &b, &dst, st, dil, pad, pad);
    dnnl_primitive_attr_t attr; dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_t po; dnnl_post_ops_create(&po); if (sum) dnnl_post_ops_append_sum(po, 1.0f);
    dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0); dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL) != dnnl_success) { printf("tag %d: none\n", tag); return; }
    const char *n; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &n);
    dnnl_primitive_t p; dnnl_primitive_create(&p, pd);
    size_t count = (size_t)N*C*H*H;
    float *x = malloc(count*4), *y = malloc(count*4), *y2 = malloc(count*4), *res = malloc(count*4);
    float *wt = malloc((size_t)C*C*9*4), *bias = malloc(C*4);
    srand(1);
    for (size_t i=0;i<count;i++){ x[i]=(rand()/(float)RAND_MAX)-0.3f; res[i]=(rand()/(float)RAND_MAX)-0.5f; }
    for (size_t i=0;i<(size_t)C*C*9;i++) wt[i]=((rand()/(float)RAND_MAX)-0.5f)*0.3f;
    for (int i=0;i<C;i++) bias[i]=(rand()/(float)RAND_MAX)-0.5f;
    dnnl_memory_t ms, mw, mwp, mb, md;
    dnnl_memory_create(&ms, &src, eng, x);
    dnnl_memory_create(&mw, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mwp, &wplain, eng, wt);
    dnnl_primitive_desc_t rpd; dnnl_reorder_primitive_desc_create(&rpd, &wplain, eng, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), eng, NULL);
    dnnl_primitive_t rp; dnnl_primitive_create(&rp, rpd);
    dnnl_exec_arg_t ra[2]={{DNNL_ARG_FROM,mwp},{DNNL_ARG_TO,mw}}; dnnl_primitive_execute(rp,s,2,ra); dnnl_stream_wait(s);
    dnnl_memory_create(&mb, &b, eng, bias);
    dnnl_memory_create(&md, &dst, eng, y);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms},{DNNL_ARG_WEIGHTS, mw},{DNNL_ARG_BIAS, mb},{DNNL_ARG_DST, md}};
    seer_winograd *wg = seer_winograd_create(C, C, wt, bias); float *work = aligned_alloc(64, seer_winograd_work_size(wg));
    seer_winograd_epilogue relu = {INFINITY, false, 0, 0, 0, 0};
    double best=1e9, bestw=1e9;
    int reps = N == 1 ? 300 : 30;
    for (int r=0;r<reps;r++){
        for (size_t i=0;i<count;i++){ y[i]=res[i]; }
        double t0=now(); dnnl_primitive_execute(p, s, 4, args); dnnl_stream_wait(s); double t=now()-t0; if(t<best)best=t;
        for (size_t i=0;i<count;i++){ y2[i]=res[i]; }
        t0=now(); seer_winograd_run(wg, x, y2, N, H, H, block, sum, &relu, work); t=now()-t0; if(t<bestw)bestw=t;
    }
    double err=0, mx=0; for (size_t i=0;i<count;i++){ double d=fabs(y[i]-y2[i]); if(d>err)err=d; if(fabs(y[i])>mx)mx=fabs(y[i]); }
    double flop=2.0*N*C*C*9*H*H;
    printf("N%d C%d H%d sum%d block %d %-14s %.3f ms %.1f GFLOP/s | winograd %.3f ms (%.1f eff) speedup %.2f maxerr %.2e of %.2f\n", N, C, H, sum, block, n, best*1e3, flop/best/1e9, bestw*1e3, flop/bestw/1e9, best/bestw, err, mx);
}
int main(void) {
    dnnl_engine_t eng; dnnl_engine_create(&eng, dnnl_cpu, 0);
    dnnl_stream_t s; dnnl_stream_create(&s, eng, dnnl_stream_default_flags);
    // resnet20's, then its half-width (every layer pruned by 0.5) ones.
    const int shapes[6][2] = {{16, 28}, {32, 14}, {64, 7}, {8, 28}, {16, 14}, {32, 7}};
    for (int nb=0; nb<2; nb++) for (int i = 0; i < 6; i++) for (int sum=0; sum<2; sum++) {
        int N = nb ? 64 : 1;
        bench(eng, s, dnnl_nChw8c, 8, N, shapes[i][0], shapes[i][1], sum);
        if (getenv("BLOCK16")) bench(eng, s, dnnl_nChw16c, 16, N, shapes[i][0], shapes[i][1], sum);
    }
    return 0;
}
