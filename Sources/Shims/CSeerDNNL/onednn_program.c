// A float inference network as one sequence of oneDNN primitives (and the engine's Winograd convolutions, on the
// same layouts) over tensors in oneDNN's chosen layouts (see seer_dnnl_program.h). Each primitive is created with its
// source in the layout its producer wrote and its destination "any", so a convolution's blocked output feeds the next
// convolution, pooling or addition unchanged.
// Buffers are shared between tensors whose lifetimes do not overlap (greedy, in step order), so a network's
// activations take a few buffers, not one each.
#include "seer_dnnl_program.h"
#include "onednn_select.h"
#include "seer_kernels.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libgomp's; see onednn_conv.c.
extern void omp_set_num_threads(int);

enum { MAX_ARGS = 8 };

typedef struct {
    dnnl_memory_desc_t md;
    int64_t elements;     // the logical size (without the blocked layout's padding)
    int producer;         // step, or -1 for the input
    int last_use;         // the last step reading it; INT32_MAX for the output
    int buffer;           // index into the program's buffers; -1: none (the input)
    int alias;            // a tensor whose buffer this one takes over (a convolution's residual), or -1
    dnnl_memory_t memory; // created at finalize, pointed at its buffer
} tensor;

typedef enum { STEP_CONV, STEP_WINOGRAD, STEP_BINARY, STEP_ELTWISE, STEP_POOL, STEP_REORDER, STEP_HOST } step_kind;

typedef struct {
    step_kind kind;
    dnnl_primitive_desc_t pd;   // until finalize creates the primitive
    dnnl_primitive_t primitive;
    int args[MAX_ARGS];         // DNNL_ARG_*
    int tensors[MAX_ARGS];      // the tensor each argument reads or writes, or -1: `owned` memory
    dnnl_memory_t owned[MAX_ARGS];
    int count;
    int output;                 // the tensor written
    int residual;               // convolutions: the tensor summed into the output, or -1
    float scale;                // reorders: the factor applied on the way (1 for a layout change)
    dnnl_primitive_t residual_copy; // residual -> output before the convolution, when they do not share a buffer
    seer_winograd *winograd;    // STEP_WINOGRAD: the engine's kernel, run in place of a primitive
    seer_winograd_epilogue winograd_epilogue; // STEP_WINOGRAD: what follows it
    int block;                  // STEP_WINOGRAD: channels per block of its source and output
    char implementation[64];
} step;

struct seer_dnnl_program {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    tensor *tensors;
    int tensor_count, tensor_capacity;
    step *steps;
    int step_count, step_capacity;
    void **buffers;
    size_t *buffer_sizes;
    int buffer_count;
    void *scratchpad;
    dnnl_memory_t scratchpad_memory;
    size_t scratchpad_size;
    bool finalized;
};

static void fail_with(char *error, size_t size, const char *what, dnnl_status_t status) {
    if (error && size) snprintf(error, size, "oneDNN program: %s failed (dnnl_status_t %d)", what, (int)status);
}

static void fail_message(char *error, size_t size, const char *message) {
    if (error && size) snprintf(error, size, "oneDNN program: %s", message);
}

#define CHECK(call, what)                                                                                             \
    do {                                                                                                              \
        dnnl_status_t status_ = (call);                                                                               \
        if (status_ != dnnl_success) {                                                                                \
            fail_with(error, error_size, what, status_);                                                              \
            goto fail;                                                                                                \
        }                                                                                                             \
    } while (0)

seer_dnnl_program *seer_dnnl_program_create(void) {
    omp_set_num_threads(1);  // one thread per primitive, as the convolution handles (onednn_conv.c)
    seer_dnnl_program *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (dnnl_engine_create(&p->engine, dnnl_cpu, 0) != dnnl_success
        || dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags) != dnnl_success) {
        seer_dnnl_program_destroy(p);
        return NULL;
    }
    return p;
}

void seer_dnnl_program_destroy(seer_dnnl_program *p) {
    if (!p) return;
    for (int s = 0; s < p->step_count; s++) {
        step *st = &p->steps[s];
        if (st->pd) dnnl_primitive_desc_destroy(st->pd);
        if (st->primitive) dnnl_primitive_destroy(st->primitive);
        if (st->residual_copy) dnnl_primitive_destroy(st->residual_copy);
        seer_winograd_destroy(st->winograd);
        for (int a = 0; a < st->count; a++)
            if (st->owned[a]) dnnl_memory_destroy(st->owned[a]);
    }
    for (int t = 0; t < p->tensor_count; t++)
        if (p->tensors[t].memory) dnnl_memory_destroy(p->tensors[t].memory);
    for (int b = 0; b < p->buffer_count; b++) free(p->buffers[b]);
    if (p->scratchpad_memory) dnnl_memory_destroy(p->scratchpad_memory);
    free(p->scratchpad);
    free(p->buffers);
    free(p->buffer_sizes);
    free(p->tensors);
    free(p->steps);
    if (p->stream) dnnl_stream_destroy(p->stream);
    if (p->engine) dnnl_engine_destroy(p->engine);
    free(p);
}

static int64_t logical_elements(const dnnl_memory_desc_t *md) {
    int64_t n = 1;
    for (int d = 0; d < md->ndims; d++) n *= md->dims[d];
    return n;
}

static bool is_plain(const dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t plain;
    dnnl_format_tag_t tag = md->ndims == 4 ? dnnl_nchw : md->ndims == 2 ? dnnl_nc : dnnl_a;
    if (dnnl_memory_desc_init_by_tag(&plain, md->ndims, md->dims, dnnl_f32, tag) != dnnl_success) return false;
    return dnnl_memory_desc_equal(md, &plain);
}

// Appends a tensor of layout `md` written by `producer`; its id, or -1 when out of memory.
static int new_tensor(seer_dnnl_program *p, const dnnl_memory_desc_t *md, int producer) {
    if (p->tensor_count == p->tensor_capacity) {
        int capacity = p->tensor_capacity ? 2 * p->tensor_capacity : 32;
        tensor *grown = realloc(p->tensors, sizeof *grown * (size_t)capacity);
        if (!grown) return -1;
        p->tensors = grown;
        p->tensor_capacity = capacity;
    }
    tensor *t = &p->tensors[p->tensor_count];
    memset(t, 0, sizeof *t);
    t->md = *md;
    t->elements = logical_elements(md);
    t->producer = producer;
    t->last_use = producer;
    t->buffer = -1;
    t->alias = -1;
    return p->tensor_count++;
}

// Appends an empty step; NULL when out of memory.
static step *new_step(seer_dnnl_program *p, step_kind kind) {
    if (p->step_count == p->step_capacity) {
        int capacity = p->step_capacity ? 2 * p->step_capacity : 32;
        step *grown = realloc(p->steps, sizeof *grown * (size_t)capacity);
        if (!grown) return NULL;
        p->steps = grown;
        p->step_capacity = capacity;
    }
    step *st = &p->steps[p->step_count++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->output = -1;
    st->residual = -1;
    st->scale = 1.0f;
    return st;
}

static bool valid_tensor(const seer_dnnl_program *p, int t, char *error, size_t error_size) {
    if (p->finalized) {
        fail_message(error, error_size, "the program is finalized");
        return false;
    }
    if (t < 0 || t >= p->tensor_count) {
        if (error && error_size) snprintf(error, error_size, "oneDNN program: no tensor %d", t);
        return false;
    }
    return true;
}

// `t` is read by the step being added.
static void use(seer_dnnl_program *p, int t) { p->tensors[t].last_use = p->step_count - 1; }

static void add_argument(step *st, int arg, int tensor, dnnl_memory_t owned) {
    st->args[st->count] = arg;
    st->tensors[st->count] = tensor;
    st->owned[st->count] = owned;
    st->count++;
}

// Records the implementation's name, and the output tensor of `pd`'s destination layout.
static int finish_step(seer_dnnl_program *p, step *st, dnnl_primitive_desc_t pd, dnnl_query_t dst_query) {
    st->pd = pd;
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(st->implementation, sizeof st->implementation, "%s", name);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dst_query, 0);
    int t = new_tensor(p, dst, (int)(st - p->steps));
    if (t < 0) return -1;
    st->output = t;
    add_argument(st, DNNL_ARG_DST, t, NULL);
    return t;
}

// Appends a step running `pd` (which it takes over, also on failure) on the tensors `inputs` as the arguments `args`,
// writing a new tensor in pd's destination layout; the tensor, or -1.
static int add_step(seer_dnnl_program *p, step_kind kind, dnnl_primitive_desc_t pd, const int *args,
                    const int *inputs, int count, char *error, size_t error_size) {
    step *st = new_step(p, kind);
    if (!st) {
        dnnl_primitive_desc_destroy(pd);
        fail_message(error, error_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        use(p, inputs[i]);
        add_argument(st, args[i], inputs[i], NULL);
    }
    int out = finish_step(p, st, pd, dnnl_query_dst_md);
    if (out < 0) fail_message(error, error_size, "out of memory");
    return out;
}


// One elementwise operation: oneDNN's algorithm, its two parameters, and a factor on its result.
typedef struct {
    dnnl_alg_kind_t alg;
    float alpha, beta, scale;
} elementwise;

// The operations of `e` in order (at most 2); their count. A fake quantization is clip(x, lo, hi) * inv, then
// round(.) * step, the ReLU merged into the clip (clamp(clamp(x, 0, cap), lo, hi) = clamp(x, max(0, lo),
// max(max(0, lo), min(cap, hi)))): oneDNN 2.6's post-op chains go wrong with two operations of one algorithm
// (measured: two `linear` or two `clip` post-ops both took the first one's parameters), so each appears once.
static int epilogue_operations(const seer_dnnl_epilogue *e, elementwise *ops) {
    int n = 0;
    if (!e) return 0;
    if (e->quantize) {
        float lo = e->relu >= 0 ? fmaxf(0.0f, e->lo) : e->lo;
        float hi = e->relu >= 0 ? fmaxf(lo, fminf(e->relu, e->hi)) : e->hi;
        ops[n++] = (elementwise){dnnl_eltwise_clip, lo, hi, e->inv};
        ops[n++] = (elementwise){dnnl_eltwise_round, 0.0f, 0.0f, e->levels ? 1.0f : e->step};
    } else if (e->relu >= 0) {
        ops[n++] = isinf(e->relu) ? (elementwise){dnnl_eltwise_relu, 0.0f, 0.0f, 1.0f}
                                  : (elementwise){dnnl_eltwise_clip, 0.0f, e->relu, 1.0f};
    }
    return n;
}

// The element type an operation followed by `e` writes: its levels' integer type, or f32.
static dnnl_data_type_t output_type(const seer_dnnl_epilogue *e) {
    if (!e || !e->quantize || !e->levels) return dnnl_f32;
    return e->lo < 0 ? dnnl_s8 : dnnl_u8;
}

// Attributes for a user-managed scratchpad with post-ops: an optional sum, then `e`'s operations.
static dnnl_status_t make_attributes(dnnl_primitive_attr_t *attr, bool sum, const seer_dnnl_epilogue *e) {
    dnnl_status_t st = dnnl_primitive_attr_create(attr);
    if (st != dnnl_success) return st;
    if ((st = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user)) != dnnl_success) return st;
    elementwise ops[2];
    int n = epilogue_operations(e, ops);
    if (!sum && n == 0) return dnnl_success;
    dnnl_post_ops_t post_ops;
    if ((st = dnnl_post_ops_create(&post_ops)) != dnnl_success) return st;
    if (sum) st = dnnl_post_ops_append_sum(post_ops, 1.0f);
    for (int i = 0; i < n && st == dnnl_success; i++)
        st = dnnl_post_ops_append_eltwise(post_ops, ops[i].scale, ops[i].alg, ops[i].alpha, ops[i].beta);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(*attr, post_ops);
    dnnl_post_ops_destroy(post_ops);
    return st;
}

// The primitive descriptor of the operation `desc` with `e`'s post-ops (and a user-managed scratchpad).
static dnnl_status_t primitive_desc(seer_dnnl_program *p, const_dnnl_op_desc_t desc, const seer_dnnl_epilogue *e,
                                    dnnl_primitive_desc_t *pd) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st = make_attributes(&attr, false, e);
    *pd = NULL;
    if (st == dnnl_success) st = seer_dnnl_primitive_desc_create(pd, desc, attr, p->engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

// A memory of layout `md` owned by the program, filled from the plain array `values` of layout `plain`.
static dnnl_status_t owned_copy(seer_dnnl_program *p, const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *md,
                                const float *values, dnnl_memory_t *out) {
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_status_t st = dnnl_memory_create(out, md, p->engine, DNNL_MEMORY_ALLOCATE);
    if (st == dnnl_success) st = dnnl_memory_create(&user, plain, p->engine, (void *)values);
    if (st == dnnl_success) st = dnnl_reorder_primitive_desc_create(&pd, plain, p->engine, md, p->engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&reorder, pd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, *out}};
        st = dnnl_primitive_execute(reorder, p->stream, 2, args);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(p->stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (user) dnnl_memory_destroy(user);
    return st;
}

// Whether `pd` is one of oneDNN's reference implementations: correct, but orders of magnitude slower than its JIT
// kernels (oneDNN falls back to them when no kernel reads a given layout).
static bool is_reference(const_dnnl_primitive_desc_t pd) {
    const char *name = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name
        && strncmp(name, "ref", 3) == 0;
}

// A step reordering `src` into layout `to`, multiplying by `scale` on the way; the new tensor, or -1.
static int add_reorder(seer_dnnl_program *p, int src, const dnnl_memory_desc_t *to, float scale, char *error,
                       size_t error_size) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    CHECK(make_attributes(&attr, false, NULL), "reorder attributes");
    if (scale != 1.0f) CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "reorder scale");
    CHECK(dnnl_reorder_primitive_desc_create(&pd, &p->tensors[src].md, p->engine, to, p->engine, attr),
          "reorder descriptor");
    dnnl_primitive_attr_destroy(attr);
    int args[] = {DNNL_ARG_FROM};
    int out = add_step(p, STEP_REORDER, pd, args, &src, 1, error, error_size);
    if (out >= 0) {
        step *st = &p->steps[p->step_count - 1];
        st->scale = scale;
        snprintf(st->implementation, sizeof st->implementation, scale == 1.0f ? "reorder" : "reorder (levels)");
    }
    return out;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    return -1;
}

int seer_dnnl_program_input(seer_dnnl_program *p, const int64_t dims[4], char *error, size_t error_size) {
    if (p->finalized || p->tensor_count > 0) {
        fail_message(error, error_size, "the input must be the program's first tensor");
        return -1;
    }
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]};
    CHECK(dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nchw), "input descriptor");
    return new_tensor(p, &md, -1);
fail:
    return -1;
}

// The tensor holding round(src * inv) as `to` (u8 or s8 in the layout an int8 convolution reads): an earlier
// step's when one made the same, else a new reorder step (oneDNN's reorders round to nearest, ties to even, and
// saturate).
static int levels_of(seer_dnnl_program *p, int src, float inv, const dnnl_memory_desc_t *to, char *error,
                     size_t error_size) {
    for (int s = 0; s < p->step_count; s++) {
        step *st = &p->steps[s];
        if (st->kind == STEP_REORDER && st->tensors[0] == src && st->scale == inv
            && dnnl_memory_desc_equal(&p->tensors[st->output].md, to))
            return st->output;
    }
    return add_reorder(p, src, to, inv, error, error_size);
}

// What one convolution step needs beyond its source: the weights' and source's element types, the weights (plain
// [g][o][i][k][k] order of that type), the bias in oneDNN's units, and for int8 the output scales and the source's
// levels step.
typedef struct {
    dnnl_data_type_t src_type, weights_type;
    const void *weights;
    const float *bias;
    const float *scales;  // int8: per output channel; NULL for f32
    float inv;            // int8: levels = round(src * inv)
} conv_operands;

// The plain or blocked format tag `md` is laid out in (nchw, nhwc, nChw8c, nChw16c), or format_tag_any.
static dnnl_format_tag_t layout_tag(const dnnl_memory_desc_t *md) {
    const dnnl_format_tag_t tags[] = {dnnl_nchw, dnnl_nhwc, dnnl_nChw8c, dnnl_nChw16c};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        dnnl_memory_desc_t candidate;
        if (dnnl_memory_desc_init_by_tag(&candidate, md->ndims, md->dims, md->data_type, tags[i]) == dnnl_success
            && dnnl_memory_desc_equal(&candidate, md))
            return tags[i];
    }
    return dnnl_format_tag_any;
}

// A convolution's primitive descriptor reading `src` (a layout, or "any") and writing `dst_type` in `dst_tag` (any:
// the layout oneDNN picks), with the residual's sum, `e`'s post-ops and (int8) the output scales.
static dnnl_status_t conv_primitive_desc(seer_dnnl_program *p, const seer_dnnl_shape *s, const conv_operands *o,
                                         const dnnl_memory_desc_t *src, dnnl_data_type_t dst_type,
                                         dnnl_format_tag_t dst_tag, bool sum, const seer_dnnl_epilogue *e,
                                         dnnl_primitive_desc_t *pd) {
    int oh = (s->height + 2 * s->padding_h - ((s->kernel_h - 1) * s->dilation_h + 1)) / s->stride_h + 1;
    int ow = (s->width + 2 * s->padding_w - ((s->kernel_w - 1) * s->dilation_w + 1)) / s->stride_w + 1;
    dnnl_memory_desc_t weights, bias, dst;
    dnnl_dims_t dst_dims = {s->batch, s->out_channels, oh, ow}, bias_dims = {s->out_channels};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dst_type, dst_tag);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_a);
    if (st == dnnl_success && s->groups == 1) {
        dnnl_dims_t w = {s->out_channels, s->in_channels, s->kernel_h, s->kernel_w};
        st = dnnl_memory_desc_init_by_tag(&weights, 4, w, o->weights_type, dnnl_format_tag_any);
    } else if (st == dnnl_success) {
        dnnl_dims_t w = {s->groups, s->out_channels / s->groups, s->in_channels / s->groups, s->kernel_h, s->kernel_w};
        st = dnnl_memory_desc_init_by_tag(&weights, 5, w, o->weights_type, dnnl_format_tag_any);
    }
    // oneDNN counts a dilation's gaps: 0 is none.
    dnnl_dims_t strides = {s->stride_h, s->stride_w}, padding = {s->padding_h, s->padding_w};
    dnnl_dims_t dilations = {s->dilation_h - 1, s->dilation_w - 1};
    dnnl_convolution_desc_t desc;
    if (st == dnnl_success)
        st = dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, src,
                                                        &weights, o->bias ? &bias : NULL, &dst, strides, dilations,
                                                        padding, padding);
    dnnl_primitive_attr_t attr = NULL;
    if (st == dnnl_success) st = make_attributes(&attr, sum, e);
    if (st == dnnl_success && o->scales)
        st = dnnl_primitive_attr_set_output_scales(attr, s->out_channels, 1 << 1, o->scales);
    *pd = NULL;
    if (st == dnnl_success) st = seer_dnnl_primitive_desc_create(pd, &desc, attr, p->engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) *pd = NULL;
    return st;
}

// `conv_primitive_desc`, and where oneDNN has no kernel writing the levels `e` asks for, one writing their float
// values (`e->levels` is then cleared: the int8 consumer makes the levels itself).
static dnnl_status_t conv_primitive_desc_or_float(seer_dnnl_program *p, const seer_dnnl_shape *s,
                                                  const conv_operands *o, const dnnl_memory_desc_t *src,
                                                  dnnl_format_tag_t dst_tag, bool sum, seer_dnnl_epilogue *e,
                                                  dnnl_primitive_desc_t *pd) {
    dnnl_status_t st = conv_primitive_desc(p, s, o, src, output_type(e), dst_tag, sum, e, pd);
    if (st == dnnl_unimplemented && output_type(e) != dnnl_f32) {
        e->levels = false;
        st = conv_primitive_desc(p, s, o, src, dnnl_f32, dst_tag, sum, e, pd);
    }
    return st;
}

// Whether `pd` is a kernel the program takes for a source in a given layout: not a reference one, nor a brgemm one
// where those are passed over (`seer_dnnl_primitive_desc_create` falls back to them only when nothing else is left).
static bool is_fast(const_dnnl_primitive_desc_t pd) {
    return pd && !is_reference(pd) && (seer_dnnl_brgemm_allowed() || !seer_dnnl_is_brgemm(pd));
}

// The channels per block of `md`'s layout when a Winograd step reads it under the present setting, else 0. `auto`
// takes it where it was measured faster than oneDNN's direct kernels: their AVX2 layout (nChw8c) with oneDNN on
// AVX2; against oneDNN's AVX-512 kernels it was not clearly so (0.74 to 1.5x per layer over two runs on the AMD EPYC,
// bench/results/issue-14/winograd).
static int winograd_block(const dnnl_memory_desc_t *md) {
    seer_winograd_setting setting = seer_dnnl_winograd();
    dnnl_format_tag_t tag = layout_tag(md);
    if (setting == SEER_WINOGRAD_OFF || md->data_type != dnnl_f32) return 0;
    if (setting == SEER_WINOGRAD_AUTO) return tag == dnnl_nChw8c && !seer_dnnl_isa_is_avx512() ? 8 : 0;
    return tag == dnnl_nChw8c ? 8 : tag == dnnl_nChw16c ? 16 : 0;
}

// A float 3x3, stride 1, padding 1 convolution writing float values (a fake quantization after it included, not
// levels) as a Winograd step, writing the layout it reads; the output tensor,
// -1 on failure, or -2 where the step does not apply (oneDNN's primitive then serves).
static int add_winograd(seer_dnnl_program *p, int src, const seer_dnnl_shape *s, const conv_operands *o,
                        int residual, const seer_dnnl_epilogue *e, char *error, size_t error_size) {
    const dnnl_memory_desc_t *x = &p->tensors[src].md;
    int block = winograd_block(x);
    if (block == 0 || o->scales || e->levels || s->groups != 1 || s->kernel_h != 3 || s->kernel_w != 3
        || s->stride_h != 1 || s->stride_w != 1 || s->padding_h != 1 || s->padding_w != 1 || s->dilation_h != 1
        || s->dilation_w != 1 || !seer_winograd_supports(s->in_channels, s->out_channels, block))
        return -2;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {s->batch, s->out_channels, s->height, s->width};
    dnnl_status_t status = dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, layout_tag(x));
    if (status != dnnl_success) {
        fail_with(error, error_size, "Winograd output descriptor", status);
        return -1;
    }
    if (residual >= 0 && p->tensors[residual].elements != logical_elements(&md)) {
        fail_message(error, error_size, "the residual's shape differs from the convolution's output");
        return -1;
    }
    step *st = new_step(p, STEP_WINOGRAD);
    if (!st) goto out_of_memory;
    if (!(st->winograd = seer_winograd_create(s->in_channels, s->out_channels, o->weights, o->bias)))
        goto out_of_memory;
    st->winograd_epilogue = (seer_winograd_epilogue){e->relu, e->quantize, e->lo, e->hi, e->inv, e->step};
    st->block = block;
    snprintf(st->implementation, sizeof st->implementation, "winograd_f2x3:avx2");
    use(p, src);
    add_argument(st, DNNL_ARG_SRC, src, NULL);
    int out = new_tensor(p, &md, (int)(st - p->steps));
    if (out < 0) goto out_of_memory;
    st->output = out;
    add_argument(st, DNNL_ARG_DST, out, NULL);
    if (residual >= 0) {
        use(p, residual);
        st->residual = residual;
    }
    return out;
out_of_memory:
    fail_message(error, error_size, "out of memory");
    return -1;
}

static int add_conv(seer_dnnl_program *p, int src, const seer_dnnl_shape *s, const conv_operands *o, int residual,
                    const seer_dnnl_epilogue *epilogue, char *error, size_t error_size) {
    if (!valid_tensor(p, src, error, error_size) || (residual >= 0 && !valid_tensor(p, residual, error, error_size)))
        return -1;
    dnnl_memory_desc_t x = p->tensors[src].md;
    if (x.ndims != 4 || x.dims[0] != s->batch || x.dims[1] != s->in_channels || x.dims[2] != s->height
        || x.dims[3] != s->width) {
        fail_message(error, error_size, "convolution shape does not match its source");
        return -1;
    }
    seer_dnnl_epilogue none = {-1.0f, false, false, 0, 0, 0, 0}, e = epilogue ? *epilogue : none;
    if (output_type(&e) != dnnl_f32 && residual >= 0) {
        fail_message(error, error_size, "levels out of a convolution with a residual (the sum needs float)");
        return -1;
    }
    int winograd = add_winograd(p, src, s, o, residual, &e, error, error_size);
    if (winograd != -2) return winograd;
    bool integer = o->scales != NULL;
    // An int8 convolution reads levels another step wrote as they are (they must be of its type), or writes its
    // own from float values.
    bool reads_levels = integer && x.data_type != dnnl_f32;
    if (reads_levels && x.data_type != o->src_type) {
        fail_message(error, error_size, "levels of the wrong signedness for an int8 convolution");
        return -1;
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t any_src, plain_weights, bias_md;
    dnnl_dims_t bias_dims = {s->out_channels};
    CHECK(dnnl_memory_desc_init_by_tag(&any_src, 4, x.dims, o->src_type, dnnl_format_tag_any), "src descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a), "bias descriptor");
    if (s->groups == 1) {
        dnnl_dims_t w = {s->out_channels, s->in_channels, s->kernel_h, s->kernel_w};
        CHECK(dnnl_memory_desc_init_by_tag(&plain_weights, 4, w, o->weights_type, dnnl_oihw), "weights descriptor");
    } else {
        dnnl_dims_t w = {s->groups, s->out_channels / s->groups, s->in_channels / s->groups, s->kernel_h, s->kernel_w};
        CHECK(dnnl_memory_desc_init_by_tag(&plain_weights, 5, w, o->weights_type, dnnl_goihw), "weights descriptor");
    }
    // A convolution first tries the layout its producer wrote, but for an int8 one fed float values: it picks its
    // own, and its levels are written for it.
    bool fixed_src = !integer || reads_levels;
    dnnl_status_t created = conv_primitive_desc_or_float(p, s, o, fixed_src ? &x : &any_src, dnnl_format_tag_any,
                                                         residual >= 0, &e, &pd);
    if (created != dnnl_success && !(fixed_src && created == dnnl_unimplemented))
        CHECK(created, "convolution primitive descriptor");
    dnnl_format_tag_t src_tag = layout_tag(&x);
    if (fixed_src && !is_fast(pd) && s->groups > 1 && src_tag != dnnl_format_tag_any && !seer_dnnl_brgemm_allowed()
        && seer_dnnl_isa_is_avx512()) {
        // oneDNN 2.6's AVX-512 depthwise kernel reads nChw16c only when it also writes it (its "any" destination is
        // NHWC, brdgmm's layout): where brdgmm is passed over, ask for the producer's layout on both sides before
        // reordering (measured on AMD Zen 4; elsewhere the programs stay as they were measured).
        if (pd) dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        created = conv_primitive_desc_or_float(p, s, o, &x, src_tag, residual >= 0, &e, &pd);
        if (created != dnnl_success && created != dnnl_unimplemented) CHECK(created, "convolution primitive descriptor");
    }
    if (fixed_src && !is_fast(pd)) {
        // No kernel, or no fast one, reads the producer's layout here: take the layout oneDNN prefers and reorder
        // into it.
        if (pd) dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        CHECK(conv_primitive_desc_or_float(p, s, o, &any_src, dnnl_format_tag_any, residual >= 0, &e, &pd),
              "convolution primitive descriptor");
        dnnl_memory_desc_t chosen = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        if (!dnnl_memory_desc_equal(&chosen, &x) && (src = add_reorder(p, src, &chosen, 1.0f, error, error_size)) < 0)
            goto fail;
    }
    if (integer && !reads_levels) {
        dnnl_memory_desc_t chosen = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        if ((src = levels_of(p, src, o->inv, &chosen, error, error_size)) < 0) goto fail;
    }
    step *st = new_step(p, STEP_CONV);
    if (!st) goto out_of_memory;
    use(p, src);
    add_argument(st, DNNL_ARG_SRC, src, NULL);
    dnnl_memory_t w = NULL, b = NULL;
    dnnl_status_t status = owned_copy(p, &plain_weights, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                                      o->weights, &w);
    add_argument(st, DNNL_ARG_WEIGHTS, -1, w);
    if (status == dnnl_success && o->bias) {
        status = owned_copy(p, &bias_md, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), o->bias, &b);
        add_argument(st, DNNL_ARG_BIAS, -1, b);
    }
    if (status != dnnl_success) {
        st->pd = pd;  // the step owns it now: the program's destroy frees it
        fail_with(error, error_size, "copying the weights", status);
        return -1;
    }
    int out = finish_step(p, st, pd, dnnl_query_dst_md);
    if (out < 0) goto out_of_memory;
    if (residual >= 0) {
        use(p, residual);
        st->residual = residual;
        if (p->tensors[residual].elements != p->tensors[out].elements) {
            fail_message(error, error_size, "the residual's shape differs from the convolution's output");
            return -1;
        }
    }
    return out;
out_of_memory:
    fail_message(error, error_size, "out of memory");
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

int seer_dnnl_program_conv(seer_dnnl_program *p, int src, const seer_dnnl_shape *s, const float *weights,
                           const float *bias, int residual, const seer_dnnl_epilogue *e, char *error,
                           size_t error_size) {
    conv_operands o = {dnnl_f32, dnnl_f32, weights, bias, NULL, 0.0f};
    return add_conv(p, src, s, &o, residual, e, error, error_size);
}

int seer_dnnl_program_int8_conv(seer_dnnl_program *p, int src, bool signed_input, float inv,
                                const seer_dnnl_shape *s, const int8_t *weights, const float *scales,
                                const float *bias, int residual, const seer_dnnl_epilogue *e, char *error,
                                size_t error_size) {
    float *units = NULL;
    if (bias) {
        // oneDNN 2.x adds the bias to the converted accumulator before the output scale (dst = scale * (acc + bias)).
        if (!(units = malloc(sizeof(float) * (size_t)s->out_channels))) {
            fail_message(error, error_size, "out of memory");
            return -1;
        }
        for (int o = 0; o < s->out_channels; o++) units[o] = scales[o] != 0 ? bias[o] / scales[o] : 0;
    }
    conv_operands o = {signed_input ? dnnl_s8 : dnnl_u8, dnnl_s8, weights, units, scales, inv};
    int out = add_conv(p, src, s, &o, residual, e, error, error_size);
    free(units);
    return out;
}

int seer_dnnl_program_add(seer_dnnl_program *p, int a, int b, const seer_dnnl_epilogue *e, char *error,
                          size_t error_size) {
    if (!valid_tensor(p, a, error, error_size) || !valid_tensor(p, b, error, error_size)) return -1;
    const dnnl_memory_desc_t *x = &p->tensors[a].md, *y = &p->tensors[b].md;
    if (x->ndims != y->ndims || memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->ndims) != 0) {
        fail_message(error, error_size, "addition of tensors of different shapes");
        return -1;
    }
    dnnl_primitive_desc_t pd;
    dnnl_memory_desc_t dst;
    dnnl_binary_desc_t desc;
    CHECK(dnnl_memory_desc_init_by_tag(&dst, x->ndims, x->dims, output_type(e), dnnl_format_tag_any),
          "dst descriptor");
    CHECK(dnnl_binary_desc_init(&desc, dnnl_binary_add, x, y, &dst), "addition descriptor");
    CHECK(primitive_desc(p, &desc, e, &pd), "addition primitive descriptor");
    int args[] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1}, inputs[] = {a, b};
    return add_step(p, STEP_BINARY, pd, args, inputs, 2, error, error_size);
fail:
    return -1;
}

// One eltwise step: dst = op(src).
static int add_eltwise(seer_dnnl_program *p, int src, elementwise op, char *error, size_t error_size) {
    dnnl_primitive_desc_t pd;
    dnnl_eltwise_desc_t desc;
    CHECK(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, op.alg, &p->tensors[src].md, op.alpha,
                                         op.beta),
          "eltwise descriptor");
    CHECK(primitive_desc(p, &desc, NULL, &pd), "eltwise primitive descriptor");
    int args[] = {DNNL_ARG_SRC};
    return add_step(p, STEP_ELTWISE, pd, args, &src, 1, error, error_size);
fail:
    return -1;
}

int seer_dnnl_program_eltwise(seer_dnnl_program *p, int src, const seer_dnnl_epilogue *e, char *error,
                              size_t error_size) {
    if (!valid_tensor(p, src, error, error_size)) return -1;
    elementwise ops[2];
    int n = epilogue_operations(e, ops);
    if (n == 0 || output_type(e) != dnnl_f32) {
        fail_message(error, error_size, n == 0 ? "an elementwise step with nothing to do"
                                               : "an elementwise step writes float values, not levels");
        return -1;
    }
    // A chain of single operations (oneDNN 2.6's eltwise primitive takes no eltwise post-ops), each factor its own
    // `linear` step.
    for (int i = 0; i < n && src >= 0; i++) {
        src = add_eltwise(p, src, ops[i], error, error_size);
        if (src >= 0 && ops[i].scale != 1.0f)
            src = add_eltwise(p, src, (elementwise){dnnl_eltwise_linear, ops[i].scale, 0.0f, 1.0f}, error, error_size);
    }
    return src;
}

int seer_dnnl_program_pool(seer_dnnl_program *p, int src, bool max, int kernel, int stride, int padding,
                           char *error, size_t error_size) {
    if (!valid_tensor(p, src, error, error_size)) return -1;
    const dnnl_memory_desc_t *x = &p->tensors[src].md;
    if (x->ndims != 4) {
        fail_message(error, error_size, "pooling needs an NCHW source");
        return -1;
    }
    dnnl_dims_t kernels = {kernel ? kernel : x->dims[2], kernel ? kernel : x->dims[3]};
    dnnl_dims_t strides = {kernel ? stride : 1, kernel ? stride : 1}, pads = {padding, padding};
    if (kernels[0] > x->dims[2] + 2 * padding || kernels[1] > x->dims[3] + 2 * padding || strides[0] < 1) {
        fail_message(error, error_size, "pooling window does not fit its source");
        return -1;
    }
    dnnl_dims_t dst_dims = {x->dims[0], x->dims[1], (x->dims[2] + 2 * padding - kernels[0]) / strides[0] + 1,
                            (x->dims[3] + 2 * padding - kernels[1]) / strides[1] + 1};
    dnnl_primitive_desc_t pd;
    dnnl_memory_desc_t dst;
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any), "dst descriptor");
    dnnl_pooling_desc_t desc;
    CHECK(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference,
                                         max ? dnnl_pooling_max : dnnl_pooling_avg_include_padding, x, &dst, strides,
                                         kernels, pads, pads),
          "pooling descriptor");
    CHECK(primitive_desc(p, &desc, NULL, &pd), "pooling primitive descriptor");
    int args[] = {DNNL_ARG_SRC};
    return add_step(p, STEP_POOL, pd, args, &src, 1, error, error_size);
fail:
    return -1;
}

int seer_dnnl_program_plain(seer_dnnl_program *p, int src, char *error, size_t error_size) {
    if (!valid_tensor(p, src, error, error_size)) return -1;
    const dnnl_memory_desc_t *x = &p->tensors[src].md;
    if (is_plain(x)) return src;
    dnnl_memory_desc_t plain;
    dnnl_format_tag_t tag = x->ndims == 4 ? dnnl_nchw : x->ndims == 2 ? dnnl_nc : dnnl_a;
    dnnl_status_t status = dnnl_memory_desc_init_by_tag(&plain, x->ndims, x->dims, dnnl_f32, tag);
    if (status != dnnl_success) {
        fail_with(error, error_size, "plain descriptor", status);
        return -1;
    }
    return add_reorder(p, src, &plain, 1.0f, error, error_size);
}

int seer_dnnl_program_host(seer_dnnl_program *p, const int *inputs, int count, const int64_t *dims, int ndims,
                           char *error, size_t error_size) {
    for (int i = 0; i < count; i++) {
        if (!valid_tensor(p, inputs[i], error, error_size)) return -1;
        if (!is_plain(&p->tensors[inputs[i]].md)) {
            fail_message(error, error_size, "a host step reads plain tensors only");
            return -1;
        }
    }
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS) {
        fail_message(error, error_size, "a host step's output needs 1 to 12 dimensions");
        return -1;
    }
    dnnl_memory_desc_t md;
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) d[i] = dims[i];
    dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    if (ndims > 6) {
        fail_message(error, error_size, "a host step's output has more than 6 dimensions");
        return -1;
    }
    dnnl_status_t status = dnnl_memory_desc_init_by_tag(&md, ndims, d, dnnl_f32, tags[ndims - 1]);
    if (status != dnnl_success) {
        fail_with(error, error_size, "host output descriptor", status);
        return -1;
    }
    step *st = new_step(p, STEP_HOST);
    if (!st) {
        fail_message(error, error_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++) use(p, inputs[i]);
    int out = new_tensor(p, &md, (int)(st - p->steps));
    if (out < 0) {
        fail_message(error, error_size, "out of memory");
        return -1;
    }
    st->output = out;
    return out;
}

int seer_dnnl_program_output(seer_dnnl_program *p, int t, char *error, size_t error_size) {
    if (!valid_tensor(p, t, error, error_size)) return -1;
    p->tensors[t].last_use = INT32_MAX;
    return 0;
}

// A buffer of at least `size` bytes for a tensor born at `birth`: a free one (the smallest that fits, else the
// largest, grown) or a new one; -1 when out of memory. `free_after[b]`: the last step reading buffer b's tensor.
static int take_buffer(seer_dnnl_program *p, size_t size, int birth, int *free_after) {
    int best = -1;
    for (int b = 0; b < p->buffer_count; b++) {
        if (free_after[b] >= birth) continue;
        if (best < 0) { best = b; continue; }
        bool fits = p->buffer_sizes[b] >= size, best_fits = p->buffer_sizes[best] >= size;
        if ((fits && (!best_fits || p->buffer_sizes[b] < p->buffer_sizes[best]))
            || (!fits && !best_fits && p->buffer_sizes[b] > p->buffer_sizes[best]))
            best = b;
    }
    if (best < 0) {
        void **buffers = realloc(p->buffers, sizeof *buffers * (size_t)(p->buffer_count + 1));
        if (!buffers) return -1;
        p->buffers = buffers;
        size_t *sizes = realloc(p->buffer_sizes, sizeof *sizes * (size_t)(p->buffer_count + 1));
        if (!sizes) return -1;
        p->buffer_sizes = sizes;
        best = p->buffer_count++;
        p->buffers[best] = NULL;
        p->buffer_sizes[best] = 0;
    }
    if (p->buffer_sizes[best] < size) p->buffer_sizes[best] = size;
    return best;
}

int seer_dnnl_program_finalize(seer_dnnl_program *p, char *error, size_t error_size) {
    if (p->finalized) {
        fail_message(error, error_size, "finalized twice");
        return -1;
    }
    p->finalized = true;
    omp_set_num_threads(1);
    // Buffers, in step order: a tensor takes a buffer whose last reader ran before the tensor's producer; a
    // convolution's output takes over its residual's buffer when the residual dies there in the same layout (the sum
    // post-op then adds in place), unless the convolution also reads the residual as its source.
    int *free_after = calloc((size_t)p->tensor_count + 1, sizeof *free_after);
    if (!free_after) goto out_of_memory;
    for (int t = 0; t < p->tensor_count; t++) {
        tensor *x = &p->tensors[t];
        if (x->producer < 0) continue;  // the input lives in the caller's array
        step *st = &p->steps[x->producer];
        if ((st->kind == STEP_CONV || st->kind == STEP_WINOGRAD) && st->residual >= 0) {
            tensor *r = &p->tensors[st->residual];
            bool read_as_source = false;
            for (int i = 0; i < st->count; i++) read_as_source = read_as_source || st->tensors[i] == st->residual;
            if (!read_as_source && r->buffer >= 0 && r->last_use == x->producer
                && dnnl_memory_desc_equal(&r->md, &x->md)) {
                x->buffer = r->buffer;
                x->alias = st->residual;
                free_after[x->buffer] = x->last_use;
                continue;
            }
        }
        // A buffer read by this step must stay: hand out only buffers whose readers ended before it.
        int b = take_buffer(p, dnnl_memory_desc_get_size(&x->md), x->producer, free_after);
        if (b < 0) goto out_of_memory;
        x->buffer = b;
        free_after[b] = x->last_use;
    }
    free(free_after);
    free_after = NULL;
    for (int b = 0; b < p->buffer_count; b++) {
        if (!(p->buffers[b] = aligned_alloc(64, (p->buffer_sizes[b] + 63) / 64 * 64))) goto out_of_memory;
    }
    dnnl_status_t status;
    for (int t = 0; t < p->tensor_count; t++) {
        tensor *x = &p->tensors[t];
        void *data = x->buffer >= 0 ? p->buffers[x->buffer] : DNNL_MEMORY_NONE;
        if ((status = dnnl_memory_create(&x->memory, &x->md, p->engine, data)) != dnnl_success) {
            fail_with(error, error_size, "tensor memory", status);
            return -1;
        }
    }
    for (int s = 0; s < p->step_count; s++) {
        step *st = &p->steps[s];
        if (st->kind == STEP_HOST) continue;
        if (st->kind == STEP_WINOGRAD) {
            // Its working memory is the scratchpad, which no two steps use at once.
            size_t size = seer_winograd_work_size(st->winograd);
            if (size > p->scratchpad_size) p->scratchpad_size = size;
        } else {
            if ((status = dnnl_primitive_create(&st->primitive, st->pd)) != dnnl_success) {
                fail_with(error, error_size, "primitive creation", status);
                return -1;
            }
            const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(st->pd, dnnl_query_scratchpad_md, 0);
            size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
            if (size > p->scratchpad_size) p->scratchpad_size = size;
        }
        if (st->residual >= 0 && p->tensors[st->output].alias != st->residual) {
            // The residual is copied into the output first (reordered when its layout differs).
            const dnnl_memory_desc_t *from = &p->tensors[st->residual].md, *to = &p->tensors[st->output].md;
            dnnl_primitive_desc_t copy = NULL;
            status = dnnl_reorder_primitive_desc_create(&copy, from, p->engine, to, p->engine, NULL);
            if (status == dnnl_success) status = dnnl_primitive_create(&st->residual_copy, copy);
            if (copy) dnnl_primitive_desc_destroy(copy);
            if (status != dnnl_success) {
                fail_with(error, error_size, "residual copy", status);
                return -1;
            }
        }
        if (st->pd) dnnl_primitive_desc_destroy(st->pd);
        st->pd = NULL;
    }
    if (p->scratchpad_size) {
        // One scratchpad for every step (they run one after another); its layout is a plain byte array.
        dnnl_memory_desc_t md;
        dnnl_dims_t bytes = {(int64_t)p->scratchpad_size};
        if (!(p->scratchpad = aligned_alloc(64, (p->scratchpad_size + 63) / 64 * 64))) goto out_of_memory;
        if ((status = dnnl_memory_desc_init_by_tag(&md, 1, bytes, dnnl_u8, dnnl_a)) != dnnl_success
            || (status = dnnl_memory_create(&p->scratchpad_memory, &md, p->engine, p->scratchpad)) != dnnl_success) {
            fail_with(error, error_size, "scratchpad", status);
            return -1;
        }
    }
    return 0;
out_of_memory:
    free(free_after);
    fail_message(error, error_size, "out of memory");
    return -1;
}

int seer_dnnl_program_steps(const seer_dnnl_program *p) { return p->step_count; }

int seer_dnnl_program_run(seer_dnnl_program *p, const float *input, int from, int to, char *error,
                          size_t error_size) {
    if (!p->finalized || from < 0 || to > p->step_count || from > to) {
        fail_message(error, error_size, "run of an unfinalized program or of steps it does not have");
        return -1;
    }
    omp_set_num_threads(1);  // the primitives' regions, on whichever thread calls
    if (p->tensor_count > 0 && p->tensors[0].producer < 0)
        CHECK(dnnl_memory_set_data_handle(p->tensors[0].memory, (void *)input), "binding the input");
    for (int s = from; s < to; s++) {
        step *st = &p->steps[s];
        if (st->kind == STEP_HOST) continue;
        if (st->residual_copy) {
            dnnl_exec_arg_t copy[2] = {{DNNL_ARG_FROM, p->tensors[st->residual].memory},
                                       {DNNL_ARG_TO, p->tensors[st->output].memory}};
            CHECK(dnnl_primitive_execute(st->residual_copy, p->stream, 2, copy), "residual copy");
        }
        if (st->kind == STEP_WINOGRAD) {
            // The oneDNN steps before it (the residual's copy included) have written what it reads.
            CHECK(dnnl_stream_wait(p->stream), "stream wait");
            void *x = NULL, *y = NULL;
            const dnnl_memory_desc_t *md = &p->tensors[st->output].md;
            CHECK(dnnl_memory_get_data_handle(p->tensors[st->tensors[0]].memory, &x), "the Winograd source");
            CHECK(dnnl_memory_get_data_handle(p->tensors[st->output].memory, &y), "the Winograd output");
            seer_winograd_run(st->winograd, x, y, (int)md->dims[0], (int)md->dims[2], (int)md->dims[3], st->block,
                              st->residual >= 0, &st->winograd_epilogue, p->scratchpad);
            continue;
        }
        dnnl_exec_arg_t args[MAX_ARGS + 1];
        int n = 0;
        for (int a = 0; a < st->count; a++)
            args[n++] = (dnnl_exec_arg_t){st->args[a], st->tensors[a] >= 0 ? p->tensors[st->tensors[a]].memory
                                                                              : st->owned[a]};
        if (p->scratchpad_memory) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratchpad_memory};
        CHECK(dnnl_primitive_execute(st->primitive, p->stream, n, args), "a step");
    }
    CHECK(dnnl_stream_wait(p->stream), "stream wait");
    return 0;
fail:
    return -1;
}

float *seer_dnnl_program_data(seer_dnnl_program *p, int t) {
    if (!p->finalized || t < 0 || t >= p->tensor_count || !is_plain(&p->tensors[t].md)) return NULL;
    void *data = NULL;
    if (dnnl_memory_get_data_handle(p->tensors[t].memory, &data) != dnnl_success) return NULL;
    return data;
}

int seer_dnnl_program_dims(const seer_dnnl_program *p, int t, int64_t *dims) {
    if (t < 0 || t >= p->tensor_count) return -1;
    const dnnl_memory_desc_t *md = &p->tensors[t].md;
    for (int d = 0; d < md->ndims; d++) dims[d] = md->dims[d];
    return md->ndims;
}

const char *seer_dnnl_program_implementation(const seer_dnnl_program *p, int s) {
    return s >= 0 && s < p->step_count ? p->steps[s].implementation : "";
}
