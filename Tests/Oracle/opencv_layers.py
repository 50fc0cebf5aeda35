#!/usr/bin/env python3
"""OpenCV DNN as the oracle for AlexeyAB's Darknet dialect: runs CFG with WEIGHTS on INPUT
(raw float32 CHW at the cfg's size) and writes, for every Darknet layer OpenCV exposes, its
index, value count and values (int32, int32, float32s) to OUT.

usage: opencv_layers.py CFG WEIGHTS INPUT OUT"""
import struct
import sys

import cv2
import numpy as np


def sections(path):
    found = []
    for line in open(path):
        line = line.split("#")[0].strip()
        if line.startswith("["):
            found.append({"type": line[1:-1]})
        elif "=" in line:
            key, value = line.split("=", 1)
            found[-1].setdefault(key.strip(), value.strip())
    return found


def opencv_name(index, section):
    """The OpenCV layer holding Darknet layer `index`'s output (darknet_io.cpp's names:
    an activation is named after the layer that follows it)."""
    kind = section["type"]
    if kind in ("convolutional", "conv"):
        activation = section.get("activation", "logistic")
        if activation != "linear":
            return f"{activation}_{index + 1}"
        return f"bn_{index}" if section.get("batch_normalize", "0") == "1" else f"conv_{index}"
    return {"avgpool": "avgpool", "scale_channels": "scale_channels", "dropout": "identity",
            "shortcut": "shortcut", "softmax": "softmax", "maxpool": "pool", "route": "concat"}.get(kind, kind) + f"_{index}"


def main():
    cfg, weights, input_path, out_path = sys.argv[1:5]
    layers = sections(cfg)
    net_section, layers = layers[0], layers[1:]
    shape = (1, int(net_section["channels"]), int(net_section["height"]), int(net_section["width"]))
    net = cv2.dnn.readNetFromDarknet(cfg, weights)
    # Unfused, so that every layer's output is computed (a batch norm fused into the
    # convolution, or an addition into it, leaves its own blob empty).
    net.enableFusion(False)
    known = set(net.getLayerNames())
    wanted = [(i, opencv_name(i, s)) for i, s in enumerate(layers)]
    wanted = [(i, name) for i, name in wanted if name in known]
    net.setInput(np.fromfile(input_path, dtype=np.float32).reshape(shape))
    outputs = net.forward([name for _, name in wanted])
    with open(out_path, "wb") as out:
        for (index, _), values in zip(wanted, outputs):
            flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
            out.write(struct.pack("<ii", index, flat.size))
            out.write(flat.tobytes())


main()
