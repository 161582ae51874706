// resnet20's 3x3 convolution shapes (batch 64, stride 1, ReLU post-op) on oneDNN directly, one thread, best of 30,
// in each source/destination layout: which kernel oneDNN picks and its GFLOP/s. README's "AMD EPYC (Zen 4)" harness
// figures. Build and run from the repository root:
//   cc -O2 bench/results/issue-14/amd-zen4/conv_harness.c -o /tmp/conv_harness -ldnnl
//   OMP_NUM_THREADS=1 /tmp/conv_harness; OMP_NUM_THREADS=1 DNNL_MAX_CPU_ISA=AVX2 /tmp/conv_harness
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void bench(dnnl_engine_t eng, dnnl_stream_t s, dnnl_format_tag_t tag, int C, int H, int sum) {
    dnnl_memory_desc_t src, w, b, dst;
    dnnl_dims_t sd = {64, C, H, H}, wd = {C, C, 3, 3}, bd = {C};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, tag);
    dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any);
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
    dnnl_memory_t ms, mw, mb, md;
    dnnl_memory_create(&ms, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mw, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mb, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&md, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms},{DNNL_ARG_WEIGHTS, mw},{DNNL_ARG_BIAS, mb},{DNNL_ARG_DST, md}};
    double best=1e9;
    for (int r=0;r<30;r++){ double t0=now(); dnnl_primitive_execute(p, s, 4, args); dnnl_stream_wait(s); double t=now()-t0; if(t<best)best=t;}
    double flop=2.0*64*C*C*9*H*H;
    printf("C%d H%d sum%d tag %d %-22s %.3f ms %.1f GFLOP/s\n", C, H, sum, tag, n, best*1e3, flop/best/1e9);
}
int main(void) {
    dnnl_engine_t eng;
    dnnl_engine_create(&eng, dnnl_cpu, 0);
    dnnl_stream_t s;
    dnnl_stream_create(&s, eng, dnnl_stream_default_flags);
    const int shapes[3][2] = {{16, 28}, {32, 14}, {64, 7}};
    const dnnl_format_tag_t tags[3] = {dnnl_nChw8c, dnnl_nChw16c, dnnl_nhwc};
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 3; t++) bench(eng, s, tags[t], shapes[i][0], shapes[i][1], 0);
    return 0;
}
