/* Subnormal floats during plan runs.
 *
 * Arithmetic on subnormal floats (below 1.2e-38) takes microcode assists on x86 that
 * cost ~100 cycles each, and training makes them: an RMSprop or Adam slot of a weight
 * whose gradient is zero decays by 0.9 per step into them (after 50 steps of mnist_mlp
 * on one batch, 45% of the RMSprop velocities were subnormal and a step ran 2.6 ms
 * instead of 1.8). So plan runs flush them to zero by default (FTZ and DAZ on x86, FZ on
 * AArch64), as TensorFlow, and so Keras, do on CPU; gn_set_flush_denormals(0) keeps IEEE
 * gradual underflow. The caller's mode is restored when the run returns, and pool
 * workers take the mode of the thread that hands them a task. */
#include "graphnet.h"
#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FLUSH_BITS 0x8040u /* MXCSR: flush to zero (bit 15), denormals are zero (bit 6) */
unsigned long gn_fpmode_get(void) { return _mm_getcsr(); }
void gn_fpmode_set(unsigned long mode) { _mm_setcsr((unsigned)mode); }
#elif defined(__aarch64__)
#define FLUSH_BITS (1ul << 24) /* FPCR.FZ */
unsigned long gn_fpmode_get(void) { return __builtin_aarch64_get_fpcr(); }
void gn_fpmode_set(unsigned long mode) { __builtin_aarch64_set_fpcr((unsigned)mode); }
#else
#define FLUSH_BITS 0ul
unsigned long gn_fpmode_get(void) { return 0; }
void gn_fpmode_set(unsigned long mode) { (void)mode; }
#endif

static int flush_denormals = 1;

void gn_set_flush_denormals(int on) { flush_denormals = on != 0; }

int gn_get_flush_denormals(void) { return flush_denormals; }

unsigned long gn_fpmode_enter(void) {
    const unsigned long old = gn_fpmode_get();
    if (flush_denormals && (old & FLUSH_BITS) != FLUSH_BITS) gn_fpmode_set(old | FLUSH_BITS);
    return old;
}

void gn_fpmode_leave(unsigned long old) {
    if (gn_fpmode_get() != old) gn_fpmode_set(old);
}
