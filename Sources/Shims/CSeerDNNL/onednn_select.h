// The shim's one way to create a primitive descriptor (see onednn_select.c for why it is not oneDNN's first pick).
#ifndef SEER_ONEDNN_SELECT_H
#define SEER_ONEDNN_SELECT_H

#include "seer_dnnl.h"

#include <oneapi/dnnl/dnnl.h>

/// dnnl_primitive_desc_create, passing over brgemm-based implementations while `seer_dnnl_brgemm_allowed()` is
/// false (unless only a reference implementation would be left).
dnnl_status_t seer_dnnl_primitive_desc_create(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                                              const_dnnl_primitive_attr_t attr, dnnl_engine_t engine,
                                              const_dnnl_primitive_desc_t hint);

/// Whether `pd` is one of oneDNN's brgemm-based implementations.
bool seer_dnnl_is_brgemm(const_dnnl_primitive_desc_t pd);

/// Whether oneDNN's ISA in this process is AVX-512 or wider (the ISAs with brgemm implementations).
bool seer_dnnl_isa_is_avx512(void);

#endif
