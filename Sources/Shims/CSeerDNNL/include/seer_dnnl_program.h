// A float inference network as one sequence of oneDNN primitives whose activations stay in the layouts oneDNN
// picks (e.g. nChw16c) from one layer to the next, as onnxruntime keeps NCHWc between its convolutions: a layout
// change is paid where the network enters and leaves oneDNN, not around every convolution. Behind SeerEngine's
// `BlockedFloatInference`; no Swift API.
//
// Building: tensors are numbered from 0 in the order they are made. `seer_dnnl_program_input` makes the network
// input (plain NCHW, bound to the caller's array on each run); each operation appends a step and returns its output
// tensor. Host steps are the caller's own layers: they read plain tensors (`seer_dnnl_program_plain`) and write a
// plain tensor made for them; the program only accounts for their liveness. `seer_dnnl_program_finalize` then shares
// buffers between tensors whose lifetimes do not overlap and creates the primitives. Running: steps [from, to) run
// on the calling thread (`seer_dnnl_program_run`), stopping where the caller has host steps to run.
//
// Every function that can fail returns -1 (a tensor or step id otherwise, or 0) and writes a message to `error`.
#ifndef SEER_DNNL_PROGRAM_H
#define SEER_DNNL_PROGRAM_H

#include "seer_dnnl.h"

typedef struct seer_dnnl_program seer_dnnl_program;

/// A fresh, empty program (NULL when out of memory).
seer_dnnl_program *seer_dnnl_program_create(void);
void seer_dnnl_program_destroy(seer_dnnl_program *program);

/// The network input: a plain NCHW tensor of `dims` (batch, channels, height, width).
int seer_dnnl_program_input(seer_dnnl_program *p, const int64_t dims[4], char *error, size_t error_size);

/// What follows an operation elementwise, in this order: relu (< 0: none; INFINITY: max(x, 0); else
/// min(max(x, 0), relu)), then a fake quantization when `quantize`: round(clamp(x, lo, hi) * inv) * step (ties to
/// even, each operation rounded on its own, as the engine's `VectorKernels.fakeQuantize`). `levels` (with
/// `quantize`, convolutions and additions without a residual): the output holds the levels round(clamp(x, lo, hi) *
/// inv) themselves, as u8 (s8 when lo < 0), for int8 convolutions to read as they are.
typedef struct {
    float relu;
    bool quantize, levels;
    float lo, hi, inv, step;
} seer_dnnl_epilogue;

/// dst = epilogue(conv(src, weights) + bias + residual): weights [out][in / groups][kh][kw] and bias [out] (NULL:
/// none) are copied; residual < 0: none. `shape->batch` and the channel and spatial sizes must match `src`. 3x3
/// stride-1 ones may run on the engine's Winograd kernel instead of a oneDNN primitive (`seer_dnnl_winograd`).
int seer_dnnl_program_conv(seer_dnnl_program *p, int src, const seer_dnnl_shape *shape, const float *weights,
                           const float *bias, int residual, const seer_dnnl_epilogue *epilogue, char *error,
                           size_t error_size);
/// The integer form of a fake-quantized convolution: `src` holds fake-quantized values (multiples of 1 / inv) or
/// already their levels (an epilogue's `levels`); the levels round(src * inv), as u8 (s8 when `signed_input`), meet
/// the s8 weight levels ([out][in / groups][kh][kw]) in oneDNN's int8 kernel, and the s32 sums come back as f32,
/// scales[o] * acc + bias[o], before the residual and the epilogue (as `seer_dnnl_program_conv`).
int seer_dnnl_program_int8_conv(seer_dnnl_program *p, int src, bool signed_input, float inv,
                                const seer_dnnl_shape *shape, const int8_t *weights, const float *scales,
                                const float *bias, int residual, const seer_dnnl_epilogue *epilogue, char *error,
                                size_t error_size);
/// dst = epilogue(a + b); both of one shape.
int seer_dnnl_program_add(seer_dnnl_program *p, int a, int b, const seer_dnnl_epilogue *epilogue, char *error,
                          size_t error_size);
/// dst = epilogue(src).
int seer_dnnl_program_eltwise(seer_dnnl_program *p, int src, const seer_dnnl_epilogue *epilogue, char *error,
                              size_t error_size);
/// Max pooling (padding never wins) or average pooling (padded cells count as zeros, divisor the full window);
/// kernel 0: the whole plane (global average pooling, a [batch, channels, 1, 1] result). Square, undilated windows
/// (the engine runs other pooling windows as host steps).
int seer_dnnl_program_pool(seer_dnnl_program *p, int src, bool max, int kernel, int stride, int padding,
                           char *error, size_t error_size);

/// `src` in plain NCHW (itself when its layout is plain already), for a host step or the network's output.
int seer_dnnl_program_plain(seer_dnnl_program *p, int src, char *error, size_t error_size);
/// A host step reading the plain tensors `inputs` and writing a new plain tensor of `dims`, which it returns.
int seer_dnnl_program_host(seer_dnnl_program *p, const int *inputs, int count, const int64_t *dims, int ndims,
                           char *error, size_t error_size);
/// Marks `tensor` as the result: its buffer is never reused.
int seer_dnnl_program_output(seer_dnnl_program *p, int tensor, char *error, size_t error_size);

/// Allocates the buffers and creates the primitives; nothing may be added after it.
int seer_dnnl_program_finalize(seer_dnnl_program *p, char *error, size_t error_size);

/// The number of steps; steps are numbered in the order they were added.
int seer_dnnl_program_steps(const seer_dnnl_program *p);
/// Runs steps [from, to) on the calling thread (host steps are skipped); `input` is the network input's data.
int seer_dnnl_program_run(seer_dnnl_program *p, const float *input, int from, int to, char *error,
                          size_t error_size);
/// A plain tensor's data after finalize (the input's only during a run); NULL for a tensor that is not plain.
float *seer_dnnl_program_data(seer_dnnl_program *p, int tensor);
/// A tensor's logical dimensions (into `dims`, up to 12) and their count; -1 for no such tensor.
int seer_dnnl_program_dims(const seer_dnnl_program *p, int tensor, int64_t *dims);
/// oneDNN's implementation name of step `step` (e.g. "jit:avx512_core", "simple:any"); "" for host steps.
const char *seer_dnnl_program_implementation(const seer_dnnl_program *p, int step);

#endif
