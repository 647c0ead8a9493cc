/* GEMM blocking per ISA (fp32).
 *
 * MR x NR is the register tile of C a micro-kernel holds; KC, MC and NC are the
 * cache blocks: a KC x NR micro-panel of B and an MR x KC one of A feed each
 * micro-kernel call, the MC x KC block of A stays in L2 while the jr loop runs
 * over it, and the KC x NC panel of B lives in the shared L3.
 *
 * Tuned on AMD EPYC Zen5 (2 cores, 48 KB L1d, 1 MB L2 per core, 32 MB L3) and checked
 * on an Intel Xeon with AVX-512 (48 KB L1d, 2 MB L2 per core); -D can
 * override the cache blocks for tuning runs. With AVX-512
 * every tile shape tried (6x64, 8x48, 12x32, 14x32) runs an in-cache
 * micro-kernel at the FMA peak there, so the shape is chosen for edges. */
#ifndef GN_GEMM_CONFIG_H
#define GN_GEMM_CONFIG_H

/* AVX-512: 12 rows x 2 zmm (24 accumulators of 32). */
#define GN_AVX512_MR 12
#define GN_AVX512_NR 32
#ifndef GN_AVX512_KC
#define GN_AVX512_KC 512
#endif
#ifndef GN_AVX512_MC
#define GN_AVX512_MC 240
#endif
#ifndef GN_AVX512_NC
#define GN_AVX512_NC 4096
#endif

/* AVX2 + FMA: 6 rows x 2 ymm (12 accumulators of 16). */
#define GN_AVX2_MR 6
#define GN_AVX2_NR 16
#ifndef GN_AVX2_KC
#define GN_AVX2_KC 256
#endif
#ifndef GN_AVX2_MC
#define GN_AVX2_MC 144
#endif
#ifndef GN_AVX2_NC
#define GN_AVX2_NC 4080
#endif

/* Portable C: the tile's accumulators fit the baseline register file (16 SSE
 * registers on x86-64, 32 NEON ones elsewhere); the compiler vectorizes rows. */
#define GN_REF_MR 4
#if defined(__x86_64__)
#define GN_REF_NR 8
#else
#define GN_REF_NR 16
#endif
#ifndef GN_REF_KC
#define GN_REF_KC 256
#endif
#ifndef GN_REF_MC
#define GN_REF_MC 128
#endif
#ifndef GN_REF_NC
#define GN_REF_NC 4096
#endif

/* Largest MR and NR over all ISAs (sizes scratch tiles). */
#define GN_MAX_MR 12
#define GN_MAX_NR 32

/* Most threads one product is split between. */
#define GN_MAX_THREADS 256

/* The unpacked path (no packing) is taken, per thread's block of C, for at most
 * GN_SKINNY_M rows, for at most NR columns, or (SIMD paths on AMD only) when op(A) has
 * at most GN_SUP_MAX_MK and op(B) at most GN_SUP_MAX_KN elements: both then stay in L2
 * unpacked, and on Zen packing them costs 10-15% at sizes like 128 x 512 x 784. On an
 * Intel Xeon (AVX-512, 2 MB L2) the same products ran 14-36% faster packed: the
 * unpacked kernel reads 128 bytes from each of k rows of B per tile. */
#define GN_SKINNY_M 16
#define GN_SUP_MAX_MK (160 * 1024)
#define GN_SUP_MAX_KN (224 * 1024)

/* Few-row products over a long B (GEMV-like) sweep each thread's depth in chunks of
 * about GN_SWEEP_CHUNK bytes of B, in the opposite order on alternate calls (see gemm.c),
 * when its part of B exceeds GN_SWEEP_MIN_BYTES (less stays in L2 in any order), in
 * chunks of at least GN_SWEEP_MIN_DEPTH x m rows of B. */
#define GN_SWEEP_CHUNK (256 * 1024)
#define GN_SWEEP_MIN_BYTES (1024 * 1024)
#define GN_SWEEP_MIN_DEPTH 16

/* B transposed: dot products along k for at most GN_DOT_M rows, or at most GN_DOT_N
 * columns with A not transposed (measured ahead of packing up to 48 either way). */
#define GN_DOT_M 32
#define GN_DOT_N 32

#endif
