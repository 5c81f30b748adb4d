/* learn_kmeans.c - spherical balanced k-means keeps its capacities (docs/METHOD.md b).

   90 unit vectors in the plane (angles, so you can read them): 60 around 0 degrees, 20 around 120, 10 around 240.
   Plain spherical k-means with K = 3 finds the three groups, 60 / 20 / 10 documents: one expert would get two thirds
   of the data. The balanced variant assigns under the hard capacity

       |S_k| <= ceil(N / K) = 30,   greedily: the (point, cluster) pairs by cosine, best first, each point to the
                                    best cluster that still has room                                        (1)

   then moves each centroid to the normalised mean of its points, mu_k = sum_{i in S_k} x_i / |sum_{i in S_k} x_i|,
   and repeats. Every expert then trains on the same amount of data (equal compute per expert), at a price you can
   see below: the big group is split in two and the two small ones share a cluster. This program prints both
   partitions and checks (1).
       cc -O2 examples/learn_kmeans.c -lm -o learn_kmeans && ./learn_kmeans                                     */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <math.h>
#include <stdio.h>

enum { N = 90, K = 3, D = 2 };

int main(void) {
    float X[N * D], C[K * D];
    int32_t lab[N];
    int i, k, balanced, fails = 0, cap = (N + K - 1) / K;
    decar_rng r;
    decar_error e;
    const double deg = 3.14159265358979323846 / 180.0;
    /* the data: three groups of 60, 20 and 10 points, +-15 degrees of jitter */
    decar_rng_seed(&r, 7);
    for (i = 0; i < N; i++) {
        double centre = i < 60 ? 0.0 : i < 80 ? 120.0 : 240.0, a = (centre + 30.0 * (decar_rng_double(&r) - 0.5)) * deg;
        X[i * D + 0] = (float)cos(a);
        X[i * D + 1] = (float)sin(a);
    }
    for (balanced = 0; balanced <= 1; balanced++) {
        decar_kmeans_opts o = decar_kmeans_default(K);
        int size[K] = { 0 }, iters = 0, largest = 0;
        o.balanced = balanced;
        if (decar_kmeans(X, N, D, &o, C, lab, NULL, NULL, &iters, &e))
            return (fprintf(stderr, "learn_kmeans: %s\n", e.msg), 1);
        for (i = 0; i < N; i++) size[lab[i]]++;
        printf("%s spherical k-means, K = %d, %d iterations:\n", balanced ? "balanced" : "plain", K, iters);
        for (k = 0; k < K; k++) {
            double ang = atan2(C[k * D + 1], C[k * D + 0]) / deg;
            printf("  cluster %d: %2d points, centroid at %6.1f degrees, |mu| = %.4f\n", k, size[k],
                   ang < 0 ? ang + 360.0 : ang, sqrt(C[k * D] * C[k * D] + C[k * D + 1] * C[k * D + 1]));
            if (size[k] > largest) largest = size[k];
        }
        printf("  largest cluster %d, capacity ceil(N / K) = %d\n", largest, cap);
        if (balanced && largest > cap) fails++;  /* (1): no cluster above capacity */
        if (!balanced && largest <= cap) fails++; /* the data is skewed: plain k-means must show it */
    }
    printf("%s\n", fails ? "FAILED" : "ok: the balanced assignment keeps every cluster within ceil(N / K)");
    return fails != 0;
}
