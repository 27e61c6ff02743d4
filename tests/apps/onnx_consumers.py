#!/usr/bin/python3
"""Other programs' reading of an emnist .onnx model: ONNX's own checker,
then OpenCV's DNN module runs the graph on EMNIST test samples [first:].
numpy recomputes the same network from the file's initializers as a
cross-check of OpenCV.

    onnx_consumers.py MODEL.onnx DATA_DIR FIRST
      ->  prints "ACCURACY AGREEMENT": OpenCV's accuracy, and the share of
          samples where OpenCV's and numpy's best classes agree
"""
import gzip
import json
import sys

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

path, data, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
meta = {p.key: p.value for p in model.metadata_props}
labels = json.loads(meta["labels"])
weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
assert len(labels) == weights["w2"].shape[1], "one label per class"
assert [n.op_type for n in model.graph.node] == \
    ["Mul", "MatMul", "Tanh", "MatMul", "Softmax"], "the graph's nodes"

with gzip.open(f"{data}/emnist-bymerge-test-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
with gzip.open(f"{data}/emnist-bymerge-test-labels-idx1-ubyte.gz") as f:
    truth = np.frombuffer(f.read(), np.uint8, offset=8)[first:]
x = images[first:].astype(np.float32)  # 0-255: the graph scales them

net = cv2.dnn.readNetFromONNX(path)
net.setInput(x)
probabilities = net.forward()
assert probabilities.shape == (len(x), len(labels)), probabilities.shape
assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4), "softmax rows"
opencv = np.argmax(probabilities, axis=1)

scaled = x * weights["input_scale"]
reference = np.argmax(np.tanh(scaled @ weights["w1"]) @ weights["w2"], axis=1)
print(f"{np.mean(opencv == truth):.6f} {np.mean(opencv == reference):.6f}")
