/* The kernels of gn_plan_run's switch (csrc/plan.c includes this file inside it).
 * Generated from graphnet/runtime/kernels.py by
 * `python -m graphnet.runtime.kernel_codegen`: do not edit.
 * a: the step's int args, f: its float args, ptr: slot pointers, st: the step. */
case GN_K_GEMM: /* ta tb m n k A lda B ldb C ldc | alpha beta */
    gn_sgemm((int)a[0], (int)a[1], a[2], a[3], a[4], f[0], ptr[a[5]], a[6], ptr[a[7]], a[8], f[1],
             ptr[a[9]], a[10]);
    break;
case GN_K_UNARY: /* op n x y | alpha beta */
    gn_unary((int)a[0], a[1], ptr[a[2]], ptr[a[3]], f[0], f[1]);
    break;
case GN_K_BINARY: /* op ndim a b out shape a_strides b_strides */
    gn_binary((int)a[0], (int)a[1], (a + 5), ptr[a[2]], (a + 5 + a[1]), ptr[a[3]],
              (a + 5 + a[1] + a[1]), ptr[a[4]]);
    break;
case GN_K_WHERE: /* ndim cond a b out shape cond_strides a_strides b_strides */
    gn_where((int)a[0], (a + 5), ptr[a[1]], (a + 5 + a[0]), ptr[a[2]], (a + 5 + a[0] + a[0]),
             ptr[a[3]], (a + 5 + a[0] + a[0] + a[0]), ptr[a[4]]);
    break;
case GN_K_COPY: /* ndim elem_size src src_offset dst dst_offset shape src_strides dst_strides */
    gn_strided_copy((int)a[0], (a + 6), (char *)ptr[a[2]] + a[3] * (int)a[1], (a + 6 + a[0]),
                    (char *)ptr[a[4]] + a[5] * (int)a[1], (a + 6 + a[0] + a[0]), (int)a[1]);
    break;
case GN_K_CAST: /* n src src_dtype dst dst_dtype */
    gn_cast(a[0], ptr[a[1]], (int)a[2], ptr[a[3]], (int)a[4]);
    break;
case GN_K_REDUCE: /* op outer n inner x y */
    gn_reduce((int)a[0], a[1], a[2], a[3], ptr[a[4]], ptr[a[5]]);
    break;
case GN_K_SOFTMAX: /* log outer n inner x y */
    gn_softmax((int)a[0], a[1], a[2], a[3], ptr[a[4]], ptr[a[5]]);
    break;
case GN_K_BATCH_GEMM: /* ta tb m n k A lda B ldb C ldc nb ndim shape a_strides b_strides c_strides
                        | alpha beta */
    gn_sgemm_batch((int)a[0], (int)a[1], a[2], a[3], a[4], f[0], ptr[a[5]], a[6], ptr[a[7]], a[8],
                   f[1], ptr[a[9]], a[10], a[11], (int)a[12], (a + 13), (a + 13 + a[12]),
                   (a + 13 + a[12] + a[12]), (a + 13 + a[12] + a[12] + a[12]));
    break;
case GN_K_FILL: /* n dst | value */
    fill_floats(a[0], ptr[a[1]], f[0]);
    break;
case GN_K_RANDOM: /* dist n state out | a b */
    gn_random((int)a[0], a[1], f[0], f[1], ptr[a[2]], ptr[a[3]]);
    break;
case GN_K_ALLREDUCE_SUM: /* n x y wait */
    gn_allreduce_sum(a[0], ptr[a[1]], ptr[a[2]], (int)a[3]);
    break;
case GN_K_GEMM_BIAS_ACT: /* ta tb m n k A lda B ldb C ldc bias act residual ldr | alpha beta */
    gn_gemm_bias_act((int)a[0], (int)a[1], a[2], a[3], a[4], ptr[a[5]], a[6], ptr[a[7]], a[8],
                     (a[11] < 0 ? NULL : ptr[a[11]]),
                     (st[3] <= 13 || a[13] < 0 ? NULL : ptr[a[13]]), (st[3] > 13 ? a[14] : 0),
                     (int)a[12], f[0], f[1], ptr[a[9]], a[10], p->packed_b ? p->packed_b[i] : NULL);
    break;
case GN_K_FUSED_ELTWISE: /* ndim nin ninstr out shape inputs prog | fprog */
    fused_eltwise((int)a[0], (a + 4), (int)a[1], (a + 4 + a[0]), (int)a[2],
                  (a + 4 + a[0] + (a[1] * (1 + a[0]))), f, ptr[a[3]], ptr);
    break;
case GN_K_GATHER: /* index_dtype elem_size outer n inner m indices x y */
    err = gn_gather((int)a[0], (int)a[1], a[2], a[3], a[4], a[5], ptr[a[6]], ptr[a[7]], ptr[a[8]]);
    break;
case GN_K_SCATTER_ADD: /* index_dtype outer n inner m indices dy dx */
    err = gn_scatter_add((int)a[0], a[1], a[2], a[3], a[4], ptr[a[5]], ptr[a[6]], ptr[a[7]]);
    break;
case GN_K_RNN_FORWARD: /* cell act ract go_backwards reset_after mask_mode B T D U S x W R b h0 c0
                         mask rm Y work work_len */
    err = gn_rnn_forward((int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4], (int)a[5], a[6],
                         a[7], a[8], a[9], a[10], ptr[a[11]], ptr[a[12]], ptr[a[13]],
                         (a[14] < 0 ? NULL : ptr[a[14]]), (a[15] < 0 ? NULL : ptr[a[15]]),
                         (a[16] < 0 ? NULL : ptr[a[16]]), (a[17] < 0 ? NULL : ptr[a[17]]),
                         (a[18] < 0 ? NULL : ptr[a[18]]), ptr[a[19]], ptr[a[20]], a[21]);
    break;
case GN_K_RNN_BPTT: /* cell act ract go_backwards reset_after mask_mode B T U S K gY Y R h0 c0 mask
                      rm Z work work_len */
    err = gn_rnn_bptt((int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4], (int)a[5], a[6], a[7],
                      a[8], a[9], a[10], ptr[a[11]], ptr[a[12]], ptr[a[13]],
                      (a[14] < 0 ? NULL : ptr[a[14]]), (a[15] < 0 ? NULL : ptr[a[15]]),
                      (a[16] < 0 ? NULL : ptr[a[16]]), (a[17] < 0 ? NULL : ptr[a[17]]), ptr[a[18]],
                      ptr[a[19]], a[20]);
    break;
case GN_K_RNN_PARAM_GRAD: /* cell wrt go_backwards reset_after rec_masked B T D U K Z other out */
    err = gn_rnn_param_grad((int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4], a[5], a[6], a[7],
                            a[8], a[9], ptr[a[10]], (a[11] < 0 ? NULL : ptr[a[11]]), ptr[a[12]]);
    break;
case GN_K_ATTENTION: /* b t s n h hv q k v mask mask_strides causal out lse | scale */
    err = gn_attention(a[0], a[1], a[2], a[3], a[4], a[5], ptr[a[6]], ptr[a[7]], ptr[a[8]],
                       (a[9] < 0 ? NULL : ptr[a[9]]), (a + 10), (int)a[14], f[0], ptr[a[15]],
                       (st[3] <= 16 || a[16] < 0 ? NULL : ptr[a[16]]));
    break;
case GN_K_AFFINE_TRANSFORM: /* interpolation fill_mode channels_first n h w c images transforms out
                              | fill_value */
    err = gn_affine_transform((int)a[0], (int)a[1], (int)a[2], a[3], a[4], a[5], a[6], ptr[a[7]],
                              ptr[a[8]], f[0], ptr[a[9]]);
    break;
case GN_K_AFFINE_TRANSFORM_GRAD: /* wrt interpolation fill_mode channels_first n h w c images
                                   transforms dy grad | fill_value */
    err = gn_affine_transform_grad((int)a[0], (int)a[1], (int)a[2], (int)a[3], a[4], a[5], a[6],
                                   a[7], (a[8] < 0 ? NULL : ptr[a[8]]), ptr[a[9]], ptr[a[10]], f[0],
                                   ptr[a[11]]);
    break;
case GN_K_LAYER_NORM: /* rows n x gamma beta y | epsilon */
    gn_layer_norm(a[0], a[1], ptr[a[2]], (a[3] < 0 ? NULL : ptr[a[3]]),
                  (a[4] < 0 ? NULL : ptr[a[4]]), f[0], ptr[a[5]]);
    break;
case GN_K_ATTENTION_BACKWARD: /* b t s n h hv q k v mask mask_strides causal out dout lse dq dk dv
                                | scale */
    err = gn_attention_backward(a[0], a[1], a[2], a[3], a[4], a[5], ptr[a[6]], ptr[a[7]], ptr[a[8]],
                                (a[9] < 0 ? NULL : ptr[a[9]]), (a + 10), (int)a[14], f[0],
                                ptr[a[15]], ptr[a[16]], ptr[a[17]], ptr[a[18]], ptr[a[19]],
                                ptr[a[20]]);
    break;
case GN_K_LAYER_NORM_GRAD: /* rows n dy x gamma dx | epsilon */
    gn_layer_norm_grad(a[0], a[1], ptr[a[2]], ptr[a[3]], (a[4] < 0 ? NULL : ptr[a[4]]), f[0],
                       ptr[a[5]]);
    break;
case GN_K_CONV: /* x w y work work_len geom */
    gn_conv_forward((a + 5), ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
    break;
case GN_K_CONV_BACKWARD_INPUT: /* dy w dx work work_len geom */
    gn_conv_backward_input((a + 5), ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
    break;
case GN_K_CONV_BACKWARD_FILTER: /* x dy dw work work_len geom */
    gn_conv_backward_filter((a + 5), ptr[a[0]], ptr[a[1]], ptr[a[2]], ptr[a[3]], a[4]);
    break;
case GN_K_POOL: /* mode x y geom */
    err = gn_pool_forward((int)a[0], (a + 3), ptr[a[1]], ptr[a[2]]);
    break;
case GN_K_POOL_BACKWARD: /* mode x dy dx geom */
    err = gn_pool_backward((int)a[0], (a + 4), ptr[a[1]], ptr[a[2]], ptr[a[3]]);
    break;
case GN_K_CONV_BIAS_ACT: /* x w y work work_len bias residual act geom | alpha beta */
    gn_conv_forward_fused((a + 8), ptr[a[0]], ptr[a[1]], (a[5] < 0 ? NULL : ptr[a[5]]), (int)a[7],
                          f[0], f[1], (a[6] < 0 ? NULL : ptr[a[6]]), ptr[a[2]], ptr[a[3]], a[4]);
    break;
case GN_K_CONV_BIAS_ACT_POOL: /* x w y work work_len bias act window geom | alpha beta */
    gn_conv_forward_fused_pool((a + 10), (a + 7), ptr[a[0]], ptr[a[1]],
                               (a[5] < 0 ? NULL : ptr[a[5]]), (int)a[6], f[0], f[1], ptr[a[2]],
                               ptr[a[3]], a[4]);
    break;
case GN_K_MULTI_ELTWISE: /* ntensors nin ninstr nout prog results tensors | fprog */
    multi_eltwise((int)a[0], (int)a[1], (int)a[2], (a + 4), (int)a[3], (a + 4 + 4 * a[2]),
                  (a + 4 + 4 * a[2] + a[3]), f, ptr);
    break;
