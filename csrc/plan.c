/* The plan executor: one C call runs every step of a compiled plan. Each kernel's case is
 * generated from its entry in graphnet/runtime/kernels.py (csrc/plan_kernels.h). */
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "internal.h"

/* Resolve slot s of the plan to a pointer. */
static void *slot_ptr(const gn_plan *p, void *const *inputs, void *const *outputs,
                      void *const *weights, char *arena, int64_t s) {
    const int64_t *d = p->slots + 3 * s;
    char *base;
    switch (d[0]) {
    case GN_SLOT_ARENA: base = arena; break;
    case GN_SLOT_INPUT: base = (char *)inputs[d[1]]; break;
    case GN_SLOT_OUTPUT: base = (char *)outputs[d[1]]; break;
    case GN_SLOT_WEIGHT: base = (char *)weights[d[1]]; break;
    default: base = (char *)p->consts[d[1]]; break;
    }
    return base + d[2];
}

/* The kernels whose step is more than one call (csrc/plan_kernels.h calls them). */
static void fill_floats(int64_t n, float *y, float value) {
    for (int64_t j = 0; j < n; j++) y[j] = value;
}

/* inputs: per input its slot, then nd strides */
static void fused_eltwise(int nd, const int64_t *shape, int nin, const int64_t *inputs,
                          int ninstr, const int64_t *prog, const float *fprog, float *out,
                          void *const *ptr) {
    const float *in[16];
    int64_t strides[16 * 32];
    for (int j = 0; j < nin && j < 16; j++) {
        in[j] = ptr[inputs[j * (1 + nd)]];
        for (int d = 0; d < nd && d < 32; d++) strides[j * nd + d] = inputs[j * (1 + nd) + 1 + d];
    }
    gn_fused_eltwise(nd, shape, nin, in, strides, ninstr, prog, fprog, out);
}

/* tensors: per tensor its size, (slot stride) per input, slot per output */
static void multi_eltwise(int nt, int nin, int ninstr, const int64_t *prog, int nout,
                          const int64_t *results, const int64_t *per, const float *fprog,
                          void *const *ptr) {
    const float *in[nt * nin];
    float *out[nt * nout];
    int64_t sizes[nt], strides[nt * nin];
    for (int t = 0; t < nt; t++, per += 1 + 2 * nin + nout) {
        sizes[t] = per[0];
        for (int j = 0; j < nin; j++) {
            in[t * nin + j] = ptr[per[1 + 2 * j]];
            strides[t * nin + j] = per[2 + 2 * j];
        }
        for (int o = 0; o < nout; o++) out[t * nout + o] = ptr[per[1 + 2 * nin + o]];
    }
    gn_multi_eltwise(nt, sizes, nin, in, strides, ninstr, prog, fprog, nout, results, out);
}

int gn_plan_run(const gn_plan *p, void *const *inputs, void *const *outputs,
                void *const *weights, void *arena) {
    void *stack_ptrs[256];
    void **ptr = p->nslots <= 256 ? stack_ptrs : malloc(sizeof(void *) * (size_t)p->nslots);
    if (!ptr) return GN_ERR_NO_MEMORY; /* as step 0's */
    int status = GN_OK;
    const unsigned long fpmode = gn_fpmode_enter();
    for (int64_t s = 0; s < p->nslots; s++)
        ptr[s] = slot_ptr(p, inputs, outputs, weights, (char *)arena, s);

    for (int64_t i = 0; i < p->nsteps && status == 0; i++) {
        const int64_t *st = p->steps + 4 * i;
        const int64_t *a = p->iargs + st[1];
        const float *f = p->fargs + st[2];
        const unsigned long no_memory = gn_no_memory_count();
        int err = GN_OK; /* set by the kernels that return a status */
        switch (st[0]) {
#include "plan_kernels.h"
        default:
            err = GN_ERR_UNKNOWN_KERNEL;
        }
        if (err == GN_OK && gn_no_memory_count() != no_memory) err = GN_ERR_NO_MEMORY;
        if (err != GN_OK) status = (int)(GN_ERR_COUNT * i + err);
    }
    if (ptr != stack_ptrs) free(ptr);
    gn_fpmode_leave(fpmode);
    return status;
}

int gn_plan_run_steps(const gn_plan *p, int64_t nruns, int64_t ninputs, void *const *inputs,
                      const int64_t *input_strides, int64_t noutputs, void *const *outputs,
                      const int64_t *output_strides, void *const *weights, void *arena,
                      int64_t *runs_done) {
    void *stack_ptrs[128];
    const int64_t nptrs = ninputs + noutputs;
    void **ptrs = nptrs <= 128 ? stack_ptrs : malloc(sizeof(void *) * (size_t)nptrs);
    *runs_done = 0;
    if (!ptrs) return GN_ERR_NO_MEMORY; /* as step 0's */
    void **in = ptrs, **out = ptrs + ninputs;
    int status = GN_OK;
    for (int64_t r = 0; r < nruns && status == GN_OK; r++) {
        for (int64_t i = 0; i < ninputs; i++) in[i] = (char *)inputs[i] + r * input_strides[i];
        for (int64_t o = 0; o < noutputs; o++)
            out[o] = (char *)outputs[o] + r * output_strides[o];
        status = gn_plan_run(p, in, out, weights, arena);
        if (status == GN_OK) *runs_done = r + 1;
    }
    if (ptrs != stack_ptrs) free(ptrs);
    return status;
}
