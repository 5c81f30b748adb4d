/* the benchmarks' clock: seconds on the monotonic clock (define _POSIX_C_SOURCE before the first include) */
#ifndef DECAR_BENCH_CLOCK_H
#define DECAR_BENCH_CLOCK_H
#include <time.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#endif
