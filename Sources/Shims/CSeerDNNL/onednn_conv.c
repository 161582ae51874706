// oneDNN convolutions on plain NCHW tensors. Each handle holds one primitive (created with format "any", so oneDNN
// picks its fastest layout) plus, for every argument whose chosen layout is not the plain one, a buffer and a
// reorder between the two. User memories are created once without data and pointed at the caller's arrays on each
// call. The blocked copies of activations and gradients, and every primitive's scratchpad (user-managed: oneDNN's
// own library scratchpad crashed when two threads ran primitives at once), live in one arena per calling thread,
// shared by all handles (a network's handles would otherwise hold a copy of every activation of every pass); only
// the weights' copy is the handle's own, so that inference can keep it between calls.
#include "seer_dnnl.h"
#include "onednn_select.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libgomp's; oneDNN's OpenMP runtime reads it for every parallel region the calling thread opens.
extern void omp_set_num_threads(int);

typedef struct {
    int arg;                  // DNNL_ARG_*
    bool input;               // reordered before the primitive (else after it)
    dnnl_memory_t user;       // plain layout, the caller's pointer
    dnnl_memory_t internal;   // the primitive's layout; NULL when it is the plain one
    size_t arena_offset;      // where `internal` lies in the thread's arena, or SIZE_MAX: its own buffer
    dnnl_primitive_t reorder; // user -> internal for inputs, internal -> user for outputs
    dnnl_memory_t reorder_scratchpad; // NULL when the reorder needs none
    size_t reorder_scratchpad_offset;
    bool reordered;           // `internal` holds the previous call's input
} argument;

struct seer_dnnl_conv {
    seer_dnnl_pass pass;
    dnnl_primitive_t primitive;
    dnnl_memory_t scratchpad;  // NULL when the primitive needs none
    size_t scratchpad_offset;
    dnnl_stream_t stream;
    argument args[4];
    int count;
    size_t arena_bytes;
    float *int8_bias;          // int8 handles: the bias in oneDNN 2.6's accumulator units (bias / scale); else NULL
    char implementation[64];
};

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
typedef struct { void *data; size_t size; } arena;

static void arena_free(void *a) {
    free(((arena *)a)->data);
    free(a);
}
static void arena_key_create(void) { pthread_key_create(&arena_key, arena_free); }

// The calling thread's arena, at least `bytes` long; NULL when out of memory.
static void *arena_reserve(size_t bytes) {
    pthread_once(&arena_once, arena_key_create);
    arena *a = pthread_getspecific(arena_key);
    if (!a) {
        if (!(a = calloc(1, sizeof *a))) return NULL;
        pthread_setspecific(arena_key, a);
    }
    if (a->size < bytes) {
        free(a->data);
        a->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
        a->size = a->data ? bytes : 0;
    }
    return a->data;
}

static dnnl_engine_t shared_engine(void) {
    static dnnl_engine_t engine = NULL;
    if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
    return engine;
}

static void describe(char *error, size_t size, const char *what, dnnl_status_t status) {
    if (error && size) snprintf(error, size, "oneDNN: %s failed (dnnl_status_t %d)", what, (int)status);
}

#define CHECK(call, what)                                                                                             \
    do {                                                                                                              \
        dnnl_status_t status_ = (call);                                                                               \
        if (status_ != dnnl_success) {                                                                                \
            describe(error, error_size, what, status_);                                                               \
            goto fail;                                                                                                \
        }                                                                                                             \
    } while (0)

// Plain (or, with `any`, oneDNN-chosen) descriptors of the four tensors with the given element types (bias f32).
static void typed_descriptors(const seer_dnnl_shape *s, dnnl_data_type_t src_type, dnnl_data_type_t weights_type,
                              dnnl_data_type_t dst_type, dnnl_memory_desc_t *src, dnnl_memory_desc_t *weights,
                              dnnl_memory_desc_t *bias, dnnl_memory_desc_t *dst, bool any) {
    int oh = (s->height + 2 * s->padding_h - ((s->kernel_h - 1) * s->dilation_h + 1)) / s->stride_h + 1;
    int ow = (s->width + 2 * s->padding_w - ((s->kernel_w - 1) * s->dilation_w + 1)) / s->stride_w + 1;
    dnnl_dims_t src_dims = {s->batch, s->in_channels, s->height, s->width};
    dnnl_dims_t dst_dims = {s->batch, s->out_channels, oh, ow};
    dnnl_dims_t bias_dims = {s->out_channels};
    dnnl_memory_desc_init_by_tag(src, 4, src_dims, src_type, any ? dnnl_format_tag_any : dnnl_nchw);
    dnnl_memory_desc_init_by_tag(dst, 4, dst_dims, dst_type, any ? dnnl_format_tag_any : dnnl_nchw);
    dnnl_memory_desc_init_by_tag(bias, 1, bias_dims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_a);
    if (s->groups == 1) {
        dnnl_dims_t w = {s->out_channels, s->in_channels, s->kernel_h, s->kernel_w};
        dnnl_memory_desc_init_by_tag(weights, 4, w, weights_type, any ? dnnl_format_tag_any : dnnl_oihw);
    } else {
        dnnl_dims_t w = {s->groups, s->out_channels / s->groups, s->in_channels / s->groups, s->kernel_h, s->kernel_w};
        dnnl_memory_desc_init_by_tag(weights, 5, w, weights_type, any ? dnnl_format_tag_any : dnnl_goihw);
    }
}

// The window's strides, dilations (oneDNN counts the gaps: 0 is none) and padding on both sides.
static void window_dims(const seer_dnnl_shape *s, dnnl_dims_t strides, dnnl_dims_t dilations, dnnl_dims_t padding) {
    strides[0] = s->stride_h;
    strides[1] = s->stride_w;
    dilations[0] = s->dilation_h - 1;
    dilations[1] = s->dilation_w - 1;
    padding[0] = s->padding_h;
    padding[1] = s->padding_w;
}

// Plain descriptors of the four tensors, f32 throughout.
static void plain_descriptors(const seer_dnnl_shape *s, dnnl_memory_desc_t *src, dnnl_memory_desc_t *weights,
                              dnnl_memory_desc_t *bias, dnnl_memory_desc_t *dst, bool any) {
    typed_descriptors(s, dnnl_f32, dnnl_f32, dnnl_f32, src, weights, bias, dst, any);
}

// A memory without data for `pd`'s user-managed scratchpad, placed at the end of the handle's arena share; NULL
// when the primitive needs none.
static dnnl_status_t reserve_scratchpad(seer_dnnl_conv *c, const_dnnl_primitive_desc_t pd, dnnl_memory_t *memory,
                                        size_t *offset) {
    *memory = NULL;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
    if (size == 0) return dnnl_success;
    *offset = c->arena_bytes;
    c->arena_bytes += (size + 63) / 64 * 64;
    return dnnl_memory_create(memory, md, shared_engine(), DNNL_MEMORY_NONE);
}

// Primitive attributes asking for a user-managed scratchpad.
static dnnl_primitive_attr_t user_scratchpad(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

static dnnl_status_t add_argument(seer_dnnl_conv *c, int arg, bool input, const dnnl_memory_desc_t *plain,
                                  const dnnl_memory_desc_t *chosen) {
    dnnl_engine_t engine = shared_engine();
    argument *a = &c->args[c->count++];
    memset(a, 0, sizeof *a);
    a->arg = arg;
    a->input = input;
    a->arena_offset = SIZE_MAX;
    dnnl_status_t st = dnnl_memory_create(&a->user, plain, engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success || dnnl_memory_desc_equal(plain, chosen)) return st;
    bool owned = arg == DNNL_ARG_WEIGHTS;
    if ((st = dnnl_memory_create(&a->internal, chosen, engine, owned ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE))
        != dnnl_success)
        return st;
    if (!owned) {
        a->arena_offset = c->arena_bytes;
        c->arena_bytes += (dnnl_memory_desc_get_size(chosen) + 63) / 64 * 64;
    }
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr = user_scratchpad();
    if (!attr) return dnnl_out_of_memory;
    st = input ? dnnl_reorder_primitive_desc_create(&pd, plain, engine, chosen, engine, attr)
               : dnnl_reorder_primitive_desc_create(&pd, chosen, engine, plain, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_create(&a->reorder, pd);
    if (st == dnnl_success) st = reserve_scratchpad(c, pd, &a->reorder_scratchpad, &a->reorder_scratchpad_offset);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

seer_dnnl_conv *seer_dnnl_conv_create(const seer_dnnl_shape *s, seer_dnnl_pass pass, char *error,
                                      size_t error_size) {
    // oneDNN sizes the primitive's team from omp_get_max_threads() now, and opens regions of that size later: one
    // thread, no OpenMP team.
    omp_set_num_threads(1);
    dnnl_engine_t engine = shared_engine();
    seer_dnnl_conv *c = calloc(1, sizeof *c);
    dnnl_primitive_desc_t forward_pd = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = user_scratchpad();
    if (!c || !engine || !attr) {
        describe(error, error_size, "engine or attribute creation", dnnl_out_of_memory);
        free(c);
        if (attr) dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    c->pass = pass;
    dnnl_memory_desc_t src, weights, bias, dst, any_src, any_weights, any_bias, any_dst;
    plain_descriptors(s, &src, &weights, &bias, &dst, false);
    plain_descriptors(s, &any_src, &any_weights, &any_bias, &any_dst, true);
    dnnl_dims_t strides, dilations, padding;
    window_dims(s, strides, dilations, padding);
    dnnl_convolution_desc_t forward_desc, desc;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&forward_desc, dnnl_forward_training, dnnl_convolution_direct,
                                                     &any_src, &any_weights, s->bias ? &any_bias : NULL, &any_dst,
                                                     strides, dilations, padding, padding),
          "forward descriptor");
    CHECK(seer_dnnl_primitive_desc_create(&forward_pd, &forward_desc, attr, engine, NULL), "forward primitive descriptor");
    switch (pass) {
    case SEER_DNNL_FORWARD:
        pd = forward_pd;
        forward_pd = NULL;
        break;
    case SEER_DNNL_BACKWARD_DATA:
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &any_src, &any_weights,
                                                               &any_dst, strides, dilations, padding, padding),
              "backward-data descriptor");
        CHECK(seer_dnnl_primitive_desc_create(&pd, &desc, attr, engine, forward_pd), "backward-data primitive descriptor");
        break;
    case SEER_DNNL_BACKWARD_WEIGHTS:
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &any_src,
                                                                  &any_weights, NULL, &any_dst, strides, dilations,
                                                                  padding, padding),
              "backward-weights descriptor");
        CHECK(seer_dnnl_primitive_desc_create(&pd, &desc, attr, engine, forward_pd),
              "backward-weights primitive descriptor");
        break;
    }
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(c->implementation, sizeof c->implementation, "%s", name);
    switch (pass) {
    case SEER_DNNL_FORWARD:
        CHECK(add_argument(c, DNNL_ARG_SRC, true, &src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)), "src");
        CHECK(add_argument(c, DNNL_ARG_WEIGHTS, true, &weights,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)), "weights");
        if (s->bias)
            CHECK(add_argument(c, DNNL_ARG_BIAS, true, &bias, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1)),
                  "bias");
        CHECK(add_argument(c, DNNL_ARG_DST, false, &dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)), "dst");
        break;
    case SEER_DNNL_BACKWARD_DATA:
        CHECK(add_argument(c, DNNL_ARG_DIFF_DST, true, &dst,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0)), "diff_dst");
        CHECK(add_argument(c, DNNL_ARG_WEIGHTS, true, &weights,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)), "weights");
        CHECK(add_argument(c, DNNL_ARG_DIFF_SRC, false, &src,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0)), "diff_src");
        break;
    case SEER_DNNL_BACKWARD_WEIGHTS:
        CHECK(add_argument(c, DNNL_ARG_SRC, true, &src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)), "src");
        CHECK(add_argument(c, DNNL_ARG_DIFF_DST, true, &dst,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0)), "diff_dst");
        CHECK(add_argument(c, DNNL_ARG_DIFF_WEIGHTS, false, &weights,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0)), "diff_weights");
        break;
    }
    CHECK(dnnl_primitive_create(&c->primitive, pd), "primitive creation");
    CHECK(reserve_scratchpad(c, pd, &c->scratchpad, &c->scratchpad_offset), "scratchpad");
    CHECK(dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags), "stream creation");
    if (forward_pd) dnnl_primitive_desc_destroy(forward_pd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return c;
fail:
    if (forward_pd) dnnl_primitive_desc_destroy(forward_pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    seer_dnnl_conv_destroy(c);
    return NULL;
}

void seer_dnnl_conv_destroy(seer_dnnl_conv *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++) {
        if (c->args[i].reorder) dnnl_primitive_destroy(c->args[i].reorder);
        if (c->args[i].reorder_scratchpad) dnnl_memory_destroy(c->args[i].reorder_scratchpad);
        if (c->args[i].internal) dnnl_memory_destroy(c->args[i].internal);
        if (c->args[i].user) dnnl_memory_destroy(c->args[i].user);
    }
    if (c->primitive) dnnl_primitive_destroy(c->primitive);
    if (c->scratchpad) dnnl_memory_destroy(c->scratchpad);
    if (c->stream) dnnl_stream_destroy(c->stream);
    free(c->int8_bias);
    free(c);
}

const char *seer_dnnl_conv_implementation(const seer_dnnl_conv *c) { return c->implementation; }

// Points the user memories at `pointers` (in argument order), reorders inputs (but `keep`, when its copy is
// there), runs, reorders outputs.
static int execute(seer_dnnl_conv *c, void *const *pointers, int keep, char *error, size_t error_size) {
    omp_set_num_threads(1);  // the reorders' regions, on whichever thread calls
    char *shared = c->arena_bytes ? arena_reserve(c->arena_bytes) : NULL;
    if (c->arena_bytes && !shared) {
        describe(error, error_size, "reserving the layout buffers", dnnl_out_of_memory);
        return -1;
    }
    dnnl_exec_arg_t exec[5];
    int n = 0;
    for (int i = 0; i < c->count; i++) {
        argument *a = &c->args[i];
        CHECK(dnnl_memory_set_data_handle(a->user, pointers[i]), "setting a data handle");
        if (a->arena_offset != SIZE_MAX)
            CHECK(dnnl_memory_set_data_handle(a->internal, shared + a->arena_offset), "setting a buffer");
        if (a->reorder_scratchpad)
            CHECK(dnnl_memory_set_data_handle(a->reorder_scratchpad, shared + a->reorder_scratchpad_offset),
                  "setting a scratchpad");
        exec[n++] = (dnnl_exec_arg_t){a->arg, a->internal ? a->internal : a->user};
        if (a->internal && a->input && !(a->arg == keep && a->reordered)) {
            a->reordered = false;
            dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, a->user}, {DNNL_ARG_TO, a->internal},
                                    {DNNL_ARG_SCRATCHPAD, a->reorder_scratchpad}};
            CHECK(dnnl_primitive_execute(a->reorder, c->stream, a->reorder_scratchpad ? 3 : 2, r), "input reorder");
            a->reordered = true;
        }
    }
    if (c->scratchpad) {
        CHECK(dnnl_memory_set_data_handle(c->scratchpad, shared + c->scratchpad_offset), "setting a scratchpad");
        exec[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, c->scratchpad};
    }
    CHECK(dnnl_primitive_execute(c->primitive, c->stream, n, exec), "convolution");
    for (int i = 0; i < c->count; i++) {
        argument *a = &c->args[i];
        if (a->internal && !a->input) {
            dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, a->internal}, {DNNL_ARG_TO, a->user},
                                    {DNNL_ARG_SCRATCHPAD, a->reorder_scratchpad}};
            CHECK(dnnl_primitive_execute(a->reorder, c->stream, a->reorder_scratchpad ? 3 : 2, r), "output reorder");
        }
    }
    CHECK(dnnl_stream_wait(c->stream), "stream wait");
    return 0;
fail:
    return -1;
}

int seer_dnnl_conv_forward(seer_dnnl_conv *c, const float *src, const float *weights, const float *bias,
                           bool weights_unchanged, float *dst, char *error, size_t error_size) {
    // The arguments in the order the handle added them: src, weights, bias (when the shape has one), dst.
    bool has_bias = c->count == 4;
    if (has_bias != (bias != NULL)) {
        if (error && error_size) snprintf(error, error_size, "oneDNN: bias %s for this handle", has_bias ? "missing" : "unexpected");
        return -1;
    }
    void *with_bias[4] = {(void *)src, (void *)weights, (void *)bias, dst};
    void *without_bias[3] = {(void *)src, (void *)weights, dst};
    return execute(c, has_bias ? with_bias : without_bias, weights_unchanged ? DNNL_ARG_WEIGHTS : -1, error, error_size);
}

int seer_dnnl_conv_backward_data(seer_dnnl_conv *c, const float *diff_dst, const float *weights, float *diff_src,
                                 char *error, size_t error_size) {
    void *p[3] = {(void *)diff_dst, (void *)weights, diff_src};
    return execute(c, p, -1, error, error_size);
}

int seer_dnnl_conv_backward_weights(seer_dnnl_conv *c, const float *src, const float *diff_dst, float *diff_weights,
                                    char *error, size_t error_size) {
    void *p[3] = {(void *)src, (void *)diff_dst, diff_weights};
    return execute(c, p, -1, error, error_size);
}

// MARK: int8 inference

seer_dnnl_conv *seer_dnnl_int8_conv_create(const seer_dnnl_shape *s, bool signed_input, const float *scales,
                                           const float *bias, char *error, size_t error_size) {
    omp_set_num_threads(1);  // as seer_dnnl_conv_create
    dnnl_engine_t engine = shared_engine();
    seer_dnnl_conv *c = calloc(1, sizeof *c);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = user_scratchpad();
    if (!c || !engine || !attr) {
        describe(error, error_size, "engine or attribute creation", dnnl_out_of_memory);
        free(c);
        if (attr) dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    c->pass = SEER_DNNL_FORWARD;
    if (s->bias) {
        // oneDNN 2.x adds the bias to the converted accumulator before the output scale (dst = scale * (acc + bias)).
        if (!(c->int8_bias = malloc(sizeof(float) * (size_t)s->out_channels))) {
            describe(error, error_size, "bias allocation", dnnl_out_of_memory);
            goto fail;
        }
        for (int o = 0; o < s->out_channels; o++) c->int8_bias[o] = scales[o] != 0 ? bias[o] / scales[o] : 0;
    }
    dnnl_data_type_t src_type = signed_input ? dnnl_s8 : dnnl_u8;
    dnnl_memory_desc_t src, weights, bias_md, dst, any_src, any_weights, any_bias, any_dst;
    typed_descriptors(s, src_type, dnnl_s8, dnnl_f32, &src, &weights, &bias_md, &dst, false);
    typed_descriptors(s, src_type, dnnl_s8, dnnl_f32, &any_src, &any_weights, &any_bias, &any_dst, true);
    dnnl_dims_t strides, dilations, padding;
    window_dims(s, strides, dilations, padding);
    dnnl_convolution_desc_t desc;
    CHECK(dnnl_primitive_attr_set_output_scales(attr, s->out_channels, 1 << 1, scales), "output scales");
    CHECK(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &any_src,
                                                     &any_weights, s->bias ? &bias_md : NULL, &any_dst, strides,
                                                     dilations, padding, padding),
          "int8 forward descriptor");
    CHECK(seer_dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL), "int8 forward primitive descriptor");
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(c->implementation, sizeof c->implementation, "%s", name);
    CHECK(add_argument(c, DNNL_ARG_SRC, true, &src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)), "src");
    CHECK(add_argument(c, DNNL_ARG_WEIGHTS, true, &weights, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)),
          "weights");
    if (s->bias)
        CHECK(add_argument(c, DNNL_ARG_BIAS, true, &bias_md, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1)),
              "bias");
    CHECK(add_argument(c, DNNL_ARG_DST, false, &dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)), "dst");
    CHECK(dnnl_primitive_create(&c->primitive, pd), "int8 primitive creation");
    CHECK(reserve_scratchpad(c, pd, &c->scratchpad, &c->scratchpad_offset), "scratchpad");
    CHECK(dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags), "stream creation");
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return c;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    seer_dnnl_conv_destroy(c);
    return NULL;
}

int seer_dnnl_int8_conv_forward(seer_dnnl_conv *c, const void *src, const int8_t *weights, float *dst, char *error,
                                size_t error_size) {
    if (!c->int8_bias != (c->count == 3)) {
        if (error && error_size) snprintf(error, error_size, "oneDNN: not an int8 handle");
        return -1;
    }
    void *with_bias[4] = {(void *)src, (void *)weights, c->int8_bias, dst};
    void *without_bias[3] = {(void *)src, (void *)weights, dst};
    return execute(c, c->int8_bias ? with_bias : without_bias, DNNL_ARG_WEIGHTS, error, error_size);
}

// Separate roundings, as Swift's fake quantization computes them (no fused multiply-add).
#pragma STDC FP_CONTRACT OFF
void seer_quantize_levels(const float *x, uint8_t *out, size_t count, float lo, float hi, float inv) {
    const float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to the nearest, ties to even
    for (size_t i = 0; i < count; i++) {
        float v = x[i] < lo ? lo : x[i];
        v = v > hi ? hi : v;
        float level = (v * inv + magic) - magic;
        out[i] = (uint8_t)(int32_t)level;
    }
}

bool seer_dnnl_has_vnni(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni
        || (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
}

const char *seer_dnnl_effective_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}
