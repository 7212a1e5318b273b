#!/usr/bin/env python3
"""Writes a small learnable IDX data set (gzip) for the end-to-end tests.

Class c of 6 is a bright 3x3 square at a position that depends on c, on a
12x12 canvas with noise, so a tiny CNN learns it in a few dozen steps.
"""
import gzip
import random
import struct
import sys


def write_idx(path, dims, data):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(bytes(data))


def make(n, seed):
    rng = random.Random(seed)
    images, labels = [], []
    for _ in range(n):
        c = rng.randrange(6)
        img = [rng.randrange(40) for _ in range(144)]
        r0, c0 = (c // 3) * 6 + 1 + rng.randrange(2), (c % 3) * 4 + rng.randrange(2)
        for r in range(r0, r0 + 3):
            for k in range(c0, c0 + 3):
                img[r * 12 + k] = 200 + rng.randrange(56)
        images += img
        labels.append(c)
    return images, labels


def main(out):
    for split, n, seed in (("train", 1600, 1), ("t10k", 400, 2)):
        images, labels = make(n, seed)
        write_idx(f"{out}/{split}-images-idx3-ubyte.gz", [n, 12, 12], images)
        write_idx(f"{out}/{split}-labels-idx1-ubyte.gz", [n], labels)


if __name__ == "__main__":
    main(sys.argv[1])
