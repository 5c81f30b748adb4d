# scikit-learn's plain KMeans (Lloyd) on the features bench.c's k-means section wrote, with the same K and the same
# number of iterations: the anchor for decar's balanced spherical k-means (which also enforces the capacity).
# Usage: python3 bench/bench_sklearn.py build/kmeans_X.npy K ITERS   (OMP_NUM_THREADS sets sklearn's threads)
import sys, time
import numpy as np
from sklearn.cluster import KMeans

X = np.load(sys.argv[1])
K, iters = int(sys.argv[2]), int(sys.argv[3])
best = 1e9
for rep in range(3):
    km = KMeans(n_clusters=K, init="random", n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd", random_state=rep)
    t0 = time.perf_counter()
    km.fit(X)
    best = min(best, time.perf_counter() - t0)
print(f"sklearn KMeans (lloyd, init random), {X.shape[0]} x {X.shape[1]}, K = {K}, {km.n_iter_} iterations: {best:.2f} s")
print(f"RESULT sklearn_kmeans {best:.3f}")
print(f"RESULT sklearn_kmeans_iters {km.n_iter_}")
