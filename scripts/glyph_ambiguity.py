#!/usr/bin/env python3
"""glyph_ambiguity.py GLYPHS SHARDS_DIR: what the pixels alone allow for the image -> script reading of decar clip.

A reference analysis (numpy; not a dependency of the library or the tests). For each held-out image (the images in no
shard_*.txt of a decar vcluster output over the same set: vcluster's shards are exactly the training images) it reads
  - the nearest training image by the cosine of the centred pixels, blurred by a 3 x 3 box: the same script or not
    (a pixel-space nearest neighbour, the image tower's reading without any training), and
  - whether some training image of ANOTHER script is near-identical to it (cosine > 0.99 of the same features):
    glyphs that two alphabets share (latin A, cyrillic A, greek Alpha) look the same, so no encoder can tell them
    apart from the pixels; their share bounds the script accuracy from above, roughly.
Prints one line per reading, overall and per script.
    build/torch2/bin/python scripts/glyph_ambiguity.py data/glyphs runs/clip-study/scripts_mild_10k
"""
import glob
import sys

import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    glyphs, shards = sys.argv[1], sys.argv[2]
    labels = open(glyphs + "/labels.txt").read().split("\n")[:-1]
    n = len(labels)
    px = np.fromfile(glyphs + "/images_32x32_u8.bin", dtype=np.uint8).reshape(n, 32, 32).astype(np.float64) / 255
    train = np.zeros(n, bool)
    files = sorted(glob.glob(shards + "/shard_*.txt"))
    if not files:
        sys.exit("glyph_ambiguity.py: no shard_*.txt in %s" % shards)
    for f in files:
        train[np.loadtxt(f, dtype=np.int64, ndmin=1)] = True
    # x = box3(pixels) - the training images' mean, rows of unit length
    pad = np.pad(px, ((0, 0), (1, 1), (1, 1)))
    blur = sum(pad[:, i:i + 32, j:j + 32] for i in range(3) for j in range(3)) / 9
    x = blur.reshape(n, -1)
    x = x - x[train].mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    lab = np.array(labels)
    te, tr = np.where(~train)[0], np.where(train)[0]
    sim = x[te] @ x[tr].T  # (held-out, training) cosines
    nn_same = lab[tr[sim.argmax(1)]] == lab[te]
    other = lab[tr][None, :] != lab[te][:, None]
    ambiguous = ((sim > 0.99) & other).any(1)
    print("%d held-out images, %d training images (%s)" % (len(te), len(tr), shards))
    print("pixel nearest training image: the same script %.1f%%" % (100 * nn_same.mean()))
    print("a near-identical training image (pixel cosine > 0.99) of another script: %.1f%% of the held-out images"
          % (100 * ambiguous.mean()))
    for s in sorted(set(lab[te])):
        m = lab[te] == s
        print("  %-12s %4d images: pixel nearest the same script %5.1f%%, near-identical to another script %5.1f%%"
              % (s, m.sum(), 100 * nn_same[m].mean(), 100 * ambiguous[m].mean()))


if __name__ == "__main__":
    main()
