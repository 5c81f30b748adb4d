# scikit-learn's plain KMeans (Lloyd) on the features bench.c's k-means section wrote, with the same K and the same
# number of iterations: the anchor for decar's balanced spherical k-means (which also enforces the capacity).
# Two seedings, each the best of 3 fits:
#   random:    init="random", no seeding pass over the data (the cheapest start scikit-learn has)
#   k-means++: the standard k-means++ seeding decar runs (one candidate per centroid: kmeans_plusplus with
#              n_local_trials=1; KMeans' own default is the greedy variant with 2 + ln K candidates), timed with the fit
# Usage: python3 bench/bench_sklearn.py build/kmeans_X.npy K ITERS   (OMP_NUM_THREADS sets sklearn's threads)
import sys, time
import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

X = np.load(sys.argv[1])
K, iters = int(sys.argv[2]), int(sys.argv[3])


def fit(seeding, rep):
    init = "random"
    if seeding == "pp":
        init, _ = kmeans_plusplus(X, K, n_local_trials=1, random_state=rep)
    km = KMeans(n_clusters=K, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd", random_state=rep)
    return km.fit(X)


for seeding, name, key in (("random", "init random", "sklearn_kmeans"), ("pp", "k-means++", "sklearn_kmeans_pp")):
    best = 1e9
    for rep in range(3):
        t0 = time.perf_counter()
        km = fit(seeding, rep)
        best = min(best, time.perf_counter() - t0)
    print(f"sklearn KMeans (lloyd, {name}), {X.shape[0]} x {X.shape[1]}, K = {K}, {km.n_iter_} iterations: {best:.2f} s")
    print(f"RESULT {key} {best:.3f}")
    print(f"RESULT {key}_iters {km.n_iter_}")
