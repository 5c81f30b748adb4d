/* decar built with DECAR_USE_CBLAS, as a private (DECAR_STATIC) copy beside bench.c's built-in one, so that one run
   times decar's GEMM entry point routed to cblas_sgemm against calling cblas_sgemm directly. */
#define DECAR_STATIC
#define DECAR_USE_CBLAS
#define DECAR_IMPLEMENTATION
#include "../decar.h"
void bench_decar_gemm_cblas(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
                            int64_t sbk, int64_t sbn, int64_t M, int64_t N, int64_t K) {
    decar_gemm(C, ldc, A, sai, sak, B, sbk, sbn, NULL, M, N, K, 0);
}
