/* Standalone checks of gn_sgemm against gn_sgemm_ref: odd sizes, every transpose
 * pair, padded leading dimensions, alpha/beta in {0, 1, other}, NaN in C with
 * beta == 0, each available ISA, one and two threads. Exit status 1 on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

static unsigned long long rng = 88172645463325252ULL;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static long checks, failures;
static const char *cur_isa = "?";
static int cur_threads;

/* One product; pad extra columns on every leading dimension. NaN sits in the padding
 * of A and B (reading it would show), a sentinel in C's padding (writing it would show). */
static void check(int ta, int tb, long m, long n, long k, float alpha, float beta, int nan_c,
                  int pad) {
    const long ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    const long lda = ac + pad, ldb = bc + pad, ldc = n + pad;
    float *a = malloc(sizeof(float) * (size_t)(ar * lda + 1));
    float *b = malloc(sizeof(float) * (size_t)(br * ldb + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    float *r = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    float *c0 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    for (long i = 0; i < ar * lda; i++) a[i] = (i % lda) < ac ? frand() : NAN;
    for (long i = 0; i < br * ldb; i++) b[i] = (i % ldb) < bc ? frand() : NAN;
    for (long i = 0; i < m * ldc; i++)
        c0[i] = (i % ldc) < n ? (nan_c ? NAN : frand()) : 12345.0f;
    memcpy(c, c0, sizeof(float) * (size_t)(m * ldc));
    memcpy(r, c0, sizeof(float) * (size_t)(m * ldc));
    gn_sgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
    gn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    int bad = 0;
    for (long i = 0; i < m && !bad; i++) {
        for (long j = 0; j < ldc && !bad; j++) {
            const float got = c[i * ldc + j], want = r[i * ldc + j];
            if (j >= n) {
                bad = got != 12345.0f;
            } else {
                double mag = 0.0; /* sum |a||b|: the scale of the rounding error */
                for (long p = 0; p < k; p++) {
                    const double x = ta ? a[p * lda + i] : a[i * lda + p];
                    const double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    mag += fabs(x * y);
                }
                const double cref = beta == 0.0f ? 0.0 : fabs((double)beta * c0[i * ldc + j]);
                const double tol = 1e-6 * (double)(k + 4) * (fabs(alpha) * mag + cref) + 1e-30;
                bad = !(fabs((double)got - (double)want) <= tol) || isnan(got);
            }
            if (bad) {
                fprintf(stderr,
                        "FAIL isa=%s threads=%d ta=%d tb=%d m=%ld n=%ld k=%ld alpha=%g "
                        "beta=%g nan_c=%d pad=%d at (%ld,%ld): got %g want %g\n",
                        cur_isa, cur_threads, ta, tb, m, n, k, alpha, beta, nan_c, pad, i, j,
                        got, want);
            }
        }
    }
    checks++;
    failures += bad;
    free(a); free(b); free(c); free(r); free(c0);
}

static const float alphas[] = {1.0f, 1.0f, -0.75f, 0.0f, 1.5f, 0.0f};
static const float betas[] = {0.0f, 1.0f, 1.0f, 0.5f, -2.0f, 0.0f};
#define NAB 6

static void run_all(void) {
    /* small sizes: 1, primes, one past each register tile (4/6/12 rows, 16/32 cols) */
    static const long small[] = {1, 2, 3, 5, 7, 13, 17, 19, 33};
    const int ns = sizeof small / sizeof small[0];
    int combo = 0;
    for (int x = 0; x < ns; x++)
        for (int y = 0; y < ns; y++)
            for (int z = 0; z < ns; z++, combo++) {
                const int ab = combo % NAB, t = combo % 4;
                check(t & 1, t >> 1, small[x], small[y], small[z], alphas[ab], betas[ab], 0,
                      combo % 3);
            }
    /* one past the cache blocks (KC 256/512, MC 128/144/240) and a few larger odd shapes */
    static const long mid[][3] = {
        {97, 257, 129}, {257, 33, 385}, {337, 65, 17}, {145, 129, 257}, {129, 31, 769},
        {16, 300, 500}, {12, 1, 1000}, {11, 97, 3}, {251, 241, 239}, {4, 4097, 3},
        {40, 4113, 5},  {3, 5, 2000}, {37, 29, 1500}, {128, 10, 512}, {1, 513, 785}, {200, 1, 50},
        /* big enough for the packed path with B not transposed */
        {337, 65, 530}, {97, 600, 400}, {20, 8300, 60},
        /* GEMV-like: one or two rows, wide tiles */
        {1, 700, 9}, {2, 300, 20}, {2, 128, 7}, {1, 256, 3}};
    for (unsigned s = 0; s < sizeof mid / sizeof mid[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int ab = 0; ab < NAB; ab += 2)
                check(t & 1, t >> 1, mid[s][0], mid[s][1], mid[s][2], alphas[(ab + t) % NAB],
                      betas[(ab + t) % NAB], 0, (s + t) % 2 ? 3 : 0);
    /* beta == 0 must not read C: NaN there stays out, for both paths */
    static const long nanc[][3] = {{1, 40, 7}, {13, 33, 17}, {100, 70, 300}, {5, 9, 0}};
    for (unsigned s = 0; s < sizeof nanc / sizeof nanc[0]; s++)
        for (int t = 0; t < 4; t++) {
            check(t & 1, t >> 1, nanc[s][0], nanc[s][1], nanc[s][2], 1.0f, 0.0f, 1, 1);
            check(t & 1, t >> 1, nanc[s][0], nanc[s][1], nanc[s][2], 0.0f, 0.0f, 1, 0);
        }
    /* empty dimensions: k == 0 scales C, m or n == 0 touches nothing */
    check(0, 0, 7, 5, 0, 1.0f, 2.0f, 0, 1);
    check(1, 1, 7, 5, 0, 1.0f, 1.0f, 0, 0);
    check(0, 1, 0, 5, 3, 1.0f, 0.0f, 0, 2);
    check(1, 0, 4, 0, 3, 1.0f, 0.0f, 0, 2);
}

/* Called from inside a parallel task (each call then runs alone on its thread): every
 * block of C must still be computed, and the two concurrent calls must not collide. */
static void nested_call(void *arg, int tid, int nt) {
    long *bad = arg;
    const long m = 150, n = 70, k = 600; /* packed path, two blocks */
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *c = malloc(sizeof(float) * m * n), *r = malloc(sizeof(float) * m * n);
    (void)nt;
    for (long i = 0; i < m * k; i++) a[i] = (float)((i * 7 + 3) % 11) - 5.0f;
    for (long i = 0; i < n * k; i++) b[i] = (float)((i * 5 + 1) % 13) - 6.0f;
    gn_sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    gn_sgemm_ref(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, r, n);
    for (long i = 0; i < m * n; i++) bad[tid] += c[i] != r[i]; /* small integers: exact */
    free(a); free(b); free(c); free(r);
}

static void check_nested(void) {
    long bad[2] = {0, 0};
    gn_parallel(2, nested_call, bad);
    checks++;
    if (bad[0] + bad[1])
        fprintf(stderr, "FAIL isa=%s nested call: %ld wrong\n", cur_isa, bad[0] + bad[1]);
    failures += bad[0] + bad[1] != 0;
}

int main(void) {
    static const char *isas[] = {"ref", "avx2", "avx512", "neon"};
    for (int s = 0; s < 4; s++) {
        if (!gn_set_isa(isas[s])) {
            printf("skip isa %s: not available here\n", isas[s]);
            continue;
        }
        for (int th = 1; th <= 2; th++) {
            gn_set_num_threads(th);
            cur_isa = gn_isa_name();
            cur_threads = gn_get_num_threads();
            const long before = failures, c0 = checks;
            run_all();
            check_nested();
            printf("isa %-6s threads %d: %ld checks, %ld failures\n", cur_isa, cur_threads,
                   checks - c0, failures - before);
        }
    }
    printf("%s: %ld checks, %ld failures\n", failures ? "FAILED" : "OK", checks, failures);
    return failures ? 1 : 0;
}
