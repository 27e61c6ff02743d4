#!/usr/bin/python3
"""numpy's reading of an emnist .npz model: its accuracy on EMNIST test
samples [first:], computed from the file and the IDX data alone.

    npz_accuracy.py MODEL.npz DATA_DIR FIRST   ->  prints the accuracy
"""
import gzip
import sys

import numpy as np

model, data, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = np.load(model)
w1, w2 = m["w1"], m["w2"]
scale = float(m["input_scale"])
assert len(m["labels"]) == w2.shape[1], "one label per class"
with gzip.open(f"{data}/emnist-bymerge-test-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
with gzip.open(f"{data}/emnist-bymerge-test-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
x = images[first:].astype(np.float32) * np.float32(scale)
predicted = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
print(f"{np.mean(predicted == labels[first:]):.6f}")
