/* Memory read bandwidth probe: sums a float array of the given size (bytes), best of 10, with every OpenMP thread.
   Batch-1 generation streams all weights once per token, so this bounds its tokens/s (bytes of weights / bandwidth).
   Build and run:  gcc -O2 -march=native -fopenmp -o build/membw bench/membw.c && ./build/membw 256000000 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
int main(int argc, char **argv) {
    size_t n = (argc > 1 ? (size_t)atol(argv[1]) : 256000000) / 4, i;
    float *a = (float *)malloc(n * 4);
    double best = 1e9;
    int r;
    if (!a) return 1;
    for (i = 0; i < n; i++) a[i] = 1.0f;
    for (r = 0; r < 10; r++) {
        double t0 = now(), s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
        for (i = 0; i < n; i += 64) { /* 16 independent sums: the adds keep up with memory */
            float p[16] = { 0 };
            size_t j;
            int k;
            for (j = i; j + 16 <= i + 64 && j + 16 <= n; j += 16)
                for (k = 0; k < 16; k++) p[k] += a[j + k];
            for (; j < i + 64 && j < n; j++) p[0] += a[j];
            for (k = 0; k < 16; k++) s += p[k];
        }
        t0 = now() - t0;
        if (t0 < best) best = t0;
        if (s != (double)n) {
            printf("bad sum\n");
            return 1;
        }
    }
    printf("%.0f MB: %.1f GB/s\n", n * 4 / 1e6, n * 4 / best / 1e9);
    free(a);
    return 0;
}
