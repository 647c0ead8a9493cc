/* The plan executor: one C call runs every step of a compiled plan. */
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

int gn_plan_run(const gn_plan *p, void *const *inputs, void *const *outputs,
                void *const *weights, void *arena) {
    void *stack_ptrs[256];
    void **ptr = p->nslots <= 256 ? stack_ptrs : malloc(sizeof(void *) * p->nslots);
    int status = 0;
    const unsigned long fpmode = gn_fpmode_enter();
    for (int64_t s = 0; s < p->nslots; s++)
        ptr[s] = slot_ptr(p, inputs, outputs, weights, (char *)arena, s);

    for (int64_t i = 0; i < p->nsteps && status == 0; i++) {
        const int64_t *st = p->steps + 4 * i;
        const int64_t *a = p->iargs + st[1];
        const float *f = p->fargs + st[2];
        switch (st[0]) {
        case GN_K_GEMM: /* ta tb m n k A lda B ldb C ldc | alpha beta */
            gn_sgemm((int)a[0], (int)a[1], a[2], a[3], a[4], f[0], ptr[a[5]], a[6],
                     ptr[a[7]], a[8], f[1], ptr[a[9]], a[10]);
            break;
        case GN_K_BATCH_GEMM: { /* ta tb m n k A lda B ldb C ldc nb ndim shape.. as.. bs.. cs.. */
            const int64_t nb = a[11], nd = a[12];
            const int64_t *shape = a + 13, *as = shape + nd, *bs = as + nd, *cs = bs + nd;
            for (int64_t bi = 0; bi < nb; bi++) {
                int64_t rem = bi, ao = 0, bo = 0, co = 0;
                for (int64_t d = nd - 1; d >= 0; d--) {
                    int64_t idx = rem % shape[d];
                    rem /= shape[d];
                    ao += idx * as[d];
                    bo += idx * bs[d];
                    co += idx * cs[d];
                }
                gn_sgemm((int)a[0], (int)a[1], a[2], a[3], a[4], f[0], (float *)ptr[a[5]] + ao,
                         a[6], (float *)ptr[a[7]] + bo, a[8], f[1], (float *)ptr[a[9]] + co, a[10]);
            }
            break;
        }
        case GN_K_UNARY: /* op n x y | alpha beta */
            gn_unary((int)a[0], a[1], ptr[a[2]], ptr[a[3]], f[0], f[1]);
            break;
        case GN_K_BINARY: { /* op ndim a b out shape.. as.. bs.. */
            const int nd = (int)a[1];
            gn_binary((int)a[0], nd, a + 5, ptr[a[2]], a + 5 + nd, ptr[a[3]], a + 5 + 2 * nd,
                      ptr[a[4]]);
            break;
        }
        case GN_K_WHERE: { /* ndim cond a b out shape.. cs.. as.. bs.. */
            const int nd = (int)a[0];
            gn_where(nd, a + 5, ptr[a[1]], a + 5 + nd, ptr[a[2]], a + 5 + 2 * nd, ptr[a[3]],
                     a + 5 + 3 * nd, ptr[a[4]]);
            break;
        }
        case GN_K_COPY: { /* ndim elem_size src src_offset dst dst_offset shape.. ss.. ds.. */
            const int nd = (int)a[0];
            const int es = (int)a[1];
            gn_strided_copy(nd, a + 6, (char *)ptr[a[2]] + a[3] * es, a + 6 + nd,
                            (char *)ptr[a[4]] + a[5] * es, a + 6 + 2 * nd, es);
            break;
        }
        case GN_K_CAST: /* n src src_dtype dst dst_dtype */
            gn_cast(a[0], ptr[a[1]], (int)a[2], ptr[a[3]], (int)a[4]);
            break;
        case GN_K_REDUCE: /* op outer n inner x y */
            gn_reduce((int)a[0], a[1], a[2], a[3], ptr[a[4]], ptr[a[5]]);
            break;
        case GN_K_SOFTMAX: /* log outer n inner x y */
            gn_softmax((int)a[0], a[1], a[2], a[3], ptr[a[4]], ptr[a[5]]);
            break;
        case GN_K_FILL: { /* n dst | value */
            float *y = ptr[a[1]];
            for (int64_t j = 0; j < a[0]; j++) y[j] = f[0];
            break;
        }
        case GN_K_GEMM_BIAS_ACT: /* ta tb m n k A lda B ldb C ldc bias(-1: none) act
                                    [residual(-1: none) ldr] | alpha beta (13 or 15 ints) */
            gn_gemm_bias_act((int)a[0], (int)a[1], a[2], a[3], a[4], ptr[a[5]], a[6], ptr[a[7]],
                             a[8], a[11] < 0 ? NULL : ptr[a[11]],
                             st[3] < 15 || a[13] < 0 ? NULL : ptr[a[13]], st[3] < 15 ? 0 : a[14],
                             (int)a[12], f[0], f[1], ptr[a[9]], a[10],
                             p->packed_b ? p->packed_b[i] : NULL);
            break;
        case GN_K_FUSED_ELTWISE: { /* ndim nin ninstr out shape.. (slot strides..)*nin prog.. */
            const int nd = (int)a[0], nin = (int)a[1];
            const float *in[16];
            const int64_t *per = a + 4 + nd;
            int64_t strides[16 * 32];
            for (int j = 0; j < nin && j < 16; j++) {
                in[j] = ptr[per[j * (1 + nd)]];
                for (int d = 0; d < nd && d < 32; d++) strides[j * nd + d] = per[j * (1 + nd) + 1 + d];
            }
            gn_fused_eltwise(nd, a + 4, nin, in, strides, (int)a[2], per + nin * (1 + nd), f,
                             ptr[a[3]]);
            break;
        }
        case GN_K_MULTI_ELTWISE: { /* ntensors nin ninstr nout prog.. results.. then per
                                      tensor: size (slot stride)*nin slot*nout | fprog.. */
            const int64_t nt = a[0], nin = a[1], nout = a[3], *per = a + 4 + 4 * a[2] + nout;
            const float *in[nt * nin];
            float *out[nt * nout];
            int64_t sizes[nt], strides[nt * nin];
            for (int64_t t = 0; t < nt; t++, per += 1 + 2 * nin + nout) {
                sizes[t] = per[0];
                for (int64_t j = 0; j < nin; j++) {
                    in[t * nin + j] = ptr[per[1 + 2 * j]];
                    strides[t * nin + j] = per[2 + 2 * j];
                }
                for (int64_t o = 0; o < nout; o++) out[t * nout + o] = ptr[per[1 + 2 * nin + o]];
            }
            gn_multi_eltwise((int)nt, sizes, (int)nin, in, strides, (int)a[2], a + 4, f, (int)nout,
                             a + 4 + 4 * a[2], out);
            break;
        }
        case GN_K_RANDOM: /* dist n state out | a b */
            gn_random((int)a[0], a[1], f[0], f[1], ptr[a[2]], ptr[a[3]]);
            break;
        case GN_K_CONV: /* x w y work work_len geom[GN_CG_LEN] */
            gn_conv_forward(a + 5, ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
            break;
        case GN_K_CONV_BIAS_ACT: /* x w y work work_len bias(-1) residual(-1) act geom.. | a b */
            gn_conv_forward_fused(a + 8, ptr[a[0]], ptr[a[1]], a[5] < 0 ? NULL : ptr[a[5]],
                                  (int)a[7], f[0], f[1], a[6] < 0 ? NULL : ptr[a[6]], ptr[a[2]],
                                  ptr[a[3]], a[4]);
            break;
        case GN_K_CONV_BIAS_ACT_POOL: /* x w y work work_len bias(-1) act window[3] geom.. | a b */
            gn_conv_forward_fused_pool(a + 10, a + 7, ptr[a[0]], ptr[a[1]],
                                       a[5] < 0 ? NULL : ptr[a[5]], (int)a[6], f[0], f[1],
                                       ptr[a[2]], ptr[a[3]], a[4]);
            break;
        case GN_K_CONV_BACKWARD_INPUT: /* dy w dx work work_len geom.. */
            gn_conv_backward_input(a + 5, ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
            break;
        case GN_K_CONV_BACKWARD_FILTER: /* x dy dw work work_len geom.. */
            gn_conv_backward_filter(a + 5, ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
            break;
        case GN_K_POOL: /* mode x y geom.. */
            gn_pool_forward((int)a[0], a + 3, ptr[a[1]], ptr[a[2]]);
            break;
        case GN_K_POOL_BACKWARD: /* mode x dy dx geom.. */
            gn_pool_backward((int)a[0], a + 4, ptr[a[1]], ptr[a[2]], ptr[a[3]]);
            break;
        default:
            status = -(int)(1 + i);
        }
    }
    if (ptr != stack_ptrs) free(ptr);
    gn_fpmode_leave(fpmode);
    return status;
}
