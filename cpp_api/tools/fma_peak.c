/* FP32 peak of one core: independent FMA chains on the widest vectors the build
 * CPU has (AVX-512, else AVX2+FMA). Prints GFLOP/s, lanes, chains and a sink.
 * Built with -O2 -march=native.
 *
 * The loop is throughput-bound only when it has at least latency x FMA pipes
 * independent chains (4 x 2 = 8 on Skylake and Zen 2-5) AND every chain plus the
 * two constants stays in a register. AVX2 has 16 vector registers: 16 chains
 * there spilled 3 accumulators to the stack each iteration, and Zen 3 reported
 * 54 GFLOP/s while 1-thread SGEMM reached 76. So 12 chains with AVX2 (12 + 2 of
 * 16 registers), 16 with AVX-512's 32 registers. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define CHAINS 16
#define CHAIN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define CHAINS 12
#define CHAIN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float SUM(__m256 v) { float f[8]; _mm256_storeu_ps(f, v); return f[0] + f[7]; }
#else
#error "needs FMA (AVX2) or AVX-512"
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define DECL(i) vec a##i = SET1((float)i);
#define STEP(i) a##i = FMA(a##i, b, c);
#define ADD(i) sink += SUM(a##i);

int main(void) {
  /* Named accumulators, not an array: an array may live in memory, and then the
   * loop measures store forwarding instead of the FMA units. */
  CHAIN(DECL)
  const vec b = SET1(0.999999f), c = SET1(1e-6f);
  const long iters = 20000000;
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = now();
    for (long k = 0; k < iters; ++k) {
      CHAIN(STEP)
    }
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  float sink = 0;
  CHAIN(ADD)
  printf("%.1f %d %d %g\n", 2.0 * LANES * CHAINS * iters / best / 1e9, LANES, CHAINS, sink);
  return 0;
}
