// oneDNN (Debian libdnnl 2.6, OpenMP runtime) convolutions behind SeerEngine's `OneDNNConvolution` backend.
// No Swift API: SeerEngine wraps these. Tensors are plain NCHW (data), [out][in / groups][kh][kw] (weights) and [out]
// (bias) on both sides; where oneDNN's kernel prefers a blocked layout, each handle reorders into and out of its own
// buffers.
#ifndef SEER_DNNL_H
#define SEER_DNNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// One convolution's geometry; `groups` divides both channel counts. The window as ONNX's Conv has it, per axis:
/// kernel, stride, dilation (1: none) and zero padding on both sides.
typedef struct {
    int batch, in_channels, out_channels, groups, height, width;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, padding_h, padding_w;
    bool bias;
} seer_dnnl_shape;

/// Which pass a handle runs.
typedef enum {
    SEER_DNNL_FORWARD = 0,
    SEER_DNNL_BACKWARD_DATA = 1,
    SEER_DNNL_BACKWARD_WEIGHTS = 2,
} seer_dnnl_pass;

typedef struct seer_dnnl_conv seer_dnnl_conv;

/// A primitive for one shape and pass, with its reorders, on one thread (oneDNN fixes a primitive's OpenMP team
/// size when it creates it; the engine's own pool splits batches across handles); NULL and a message in `error` when
/// oneDNN refuses it. A handle runs one call at a time; different handles may run at once on different threads.
seer_dnnl_conv *seer_dnnl_conv_create(const seer_dnnl_shape *shape, seer_dnnl_pass pass, char *error,
                                      size_t error_size);
void seer_dnnl_conv_destroy(seer_dnnl_conv *conv);

/// oneDNN's name for the implementation it chose (e.g. "jit:avx512_core", "gemm:jit").
const char *seer_dnnl_conv_implementation(const seer_dnnl_conv *conv);

/// Each runs on the calling thread and returns 0, or -1 with a message in `error`.
/// dst = conv(src, weights) + bias (bias NULL when the shape has none). `weights_unchanged`: the weights are those
/// of this handle's previous forward call, so their reordered copy (if the primitive wants one) is reused.
int seer_dnnl_conv_forward(seer_dnnl_conv *conv, const float *src, const float *weights, const float *bias,
                           bool weights_unchanged, float *dst, char *error, size_t error_size);
/// diff_src = the gradient of the convolution's input (overwritten).
int seer_dnnl_conv_backward_data(seer_dnnl_conv *conv, const float *diff_dst, const float *weights,
                                 float *diff_src, char *error, size_t error_size);
/// diff_weights = the gradient of the weights (overwritten; the bias gradient is left to the caller).
int seer_dnnl_conv_backward_weights(seer_dnnl_conv *conv, const float *src, const float *diff_dst,
                                    float *diff_weights, char *error, size_t error_size);

/// An int8 inference convolution: u8 (or, `signed_input`, s8) NCHW source x s8 [out][in / groups][kh][kw] weights ->
/// s32 accumulators -> f32 NCHW dst = scales[o] * acc + bias[o] (bias: `shape->bias`, out_channels values in output
/// units; the handle keeps its own copy). oneDNN picks the kernel (VNNI where the CPU has it). A handle's weights are
/// reordered on its first call and must be the same on every later one.
seer_dnnl_conv *seer_dnnl_int8_conv_create(const seer_dnnl_shape *shape, bool signed_input, const float *scales,
                                           const float *bias, char *error, size_t error_size);
int seer_dnnl_int8_conv_forward(seer_dnnl_conv *conv, const void *src, const int8_t *weights, float *dst,
                                char *error, size_t error_size);

/// out[i] = the level round(clamp(x[i], lo, hi) * inv) (ties to even), as a u8 byte, or an s8 byte when lo < 0:
/// the source bytes of an int8 handle.
void seer_quantize_levels(const float *x, uint8_t *out, size_t count, float lo, float hi, float inv);

/// Whether the ISA oneDNN uses in this process has VNNI (u8 x s8 dot products into s32 with no 16-bit
/// intermediate): without it, oneDNN's int8 kernels sum pairs of products in saturating 16 bits and scale s8
/// sources' weights by 1/2, so only some bit-widths are exact there.
bool seer_dnnl_has_vnni(void);
/// oneDNN's effective ISA in this process (after DNNL_MAX_CPU_ISA / dnnl_set_max_cpu_isa), e.g. "avx512_core_vnni".
const char *seer_dnnl_effective_isa(void);

/// Whether primitives may take oneDNN's brgemm-based implementations (brgconv, brdgmm): SEER_ONEDNN_BRGEMM=on|off,
/// else this CPU's default (not on AMD CPUs, where they measured slower than the JIT kernels of the same ISA), until
/// `seer_dnnl_set_brgemm` says otherwise. Primitives created before a change keep theirs.
bool seer_dnnl_brgemm_allowed(void);
void seer_dnnl_set_brgemm(bool allowed);

/// Where a float inference program runs its 3x3, stride 1 convolutions by Winograd's F(2x2, 3x3) (the engine's own
/// kernel, seer_winograd_*) instead of oneDNN's direct one.
typedef enum {
    /// Where it measured faster: on activations in oneDNN's AVX2 layout (nChw8c) with oneDNN on AVX2.
    SEER_WINOGRAD_AUTO = 0,
    /// On every blocked layout it reads (nChw8c, nChw16c): tests run it on any host.
    SEER_WINOGRAD_ON = 1,
    SEER_WINOGRAD_OFF = 2,
} seer_winograd_setting;

/// SEER_WINOGRAD=auto|on|off, else auto, until `seer_dnnl_set_winograd` says otherwise. Programs built before a
/// change keep their steps.
seer_winograd_setting seer_dnnl_winograd(void);
void seer_dnnl_set_winograd(seer_winograd_setting setting);

#endif
