#!/usr/bin/env python3
"""Converts a Darknet classifier (.cfg + .weights) to ONNX, reading both files itself.

    darknet2onnx.py [--logits] CFG WEIGHTS OUT.onnx

Written from Darknet's format semantics (parse_network_cfg, load_weights and the layers'
forward passes at test time), for bench/run's ONNX Runtime column. The model takes
`input` [N, C, H, W] (N symbolic) and gives `output` [N, outputs]: the last layer's output
that is not [cost], as network_predict returns it; with --logits, the input of that layer
when it is a [softmax] (for checking a network whose softmax saturates).

Layers and how each maps:
  [convolutional]  Conv (pads = size/2 with pad=1, else padding; group; stride), then the
                   activation. Batch norm is folded into the weights and bias, in float64:
                   Darknet computes (x - mean) / (sqrt(var) + 1e-6) * scale + bias, so with
                   s = scale / (sqrt(var) + 1e-6): W' = W * s, b' = bias - mean * s. This is
                   exact in real arithmetic (Darknet's epsilon is added to the standard
                   deviation, which ONNX's BatchNormalization, sqrt(var + eps), cannot
                   express directly) and is what ONNX Runtime would fuse a BatchNormalization
                   into anyway; it changes only float rounding.
  [connected]      Flatten + Gemm (transB), batch norm folded as above; the weights are
                   transposed on load when the header's major or minor exceeds 1000.
  [maxpool]        MaxPool, kernel size, stride; Darknet's `padding` (default size - 1) is
                   the total: padding/2 before and the rest after, floor rounding, so the
                   output is (w + padding - size) / stride + 1 as in Darknet.
  [avgpool]        GlobalAveragePool.
  [softmax]        Softmax over each image (temperature by a Div first; groups=1 only).
  [dropout]        nothing (identity at test time).
  [shortcut]       Add (alpha and beta as Mul when not 1), then the activation; a larger
                   `from` layer is sampled with a strided Slice, fewer channels padded.
  [route]          Concat along channels.
  [crop]           centre Slice, then * 2 - 1 (unless noadjust).
  [cost]           nothing.
Activations: linear, leaky (LeakyRelu 0.1), relu, logistic (Sigmoid).
"""
import math
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class ConversionError(Exception):
    pass


def read_cfg(path):
    """Darknet's read_cfg: whitespace is dropped everywhere, '#' and ';' start comments."""
    sections = []
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = "".join(raw.split())
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sections.append((line.strip("[]"), {}, number))
            elif "=" in line:
                if not sections:
                    raise ConversionError(f"{path}:{number}: option before any section")
                key, value = line.split("=", 1)
                sections[-1][1][key] = value
            else:
                raise ConversionError(f"{path}:{number}: cannot parse '{raw.strip()}'")
    return sections


class Weights:
    """A .weights file: int32 major, minor, revision, then `seen` (64-bit from version 0.2),
    then float32 values layer after layer."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        major, minor, revision = struct.unpack_from("<3i", data, 0)
        wide = major * 10 + minor >= 2 and major < 1000 and minor < 1000
        offset = 12 + (8 if wide else 4)
        self.transpose = major > 1000 or minor > 1000
        self.values = np.frombuffer(data, dtype="<f4", offset=offset)
        self.position = 0
        self.path = path

    def take(self, count):
        if self.position + count > len(self.values):
            raise ConversionError(f"{self.path}: ran out of floats at {self.position} (+{count}); the weights are for another network")
        block = self.values[self.position:self.position + count].astype(np.float64)
        self.position += count
        return block

    def finish(self):
        if self.position != len(self.values):
            raise ConversionError(f"{self.path}: {len(self.values) - self.position} floats left over; the weights are for another network")


def fold_batchnorm(weights, biases, scales, mean, variance):
    # Darknet: sqrt on a double, epsilon a float literal (.000001f).
    s = scales / (np.sqrt(variance) + float(np.float32(0.000001)))
    folded = weights * s.reshape((-1,) + (1,) * (weights.ndim - 1))
    return folded, biases - mean * s


class Converter:
    def __init__(self, cfg_path, weights_path, logits=False):
        self.logits = logits
        self.cfg_path = cfg_path
        self.sections = read_cfg(cfg_path)
        self.weights = Weights(weights_path)
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def name(self, stem):
        self.counter += 1
        return f"{stem}_{self.counter}"

    def constant(self, stem, array, dtype=np.float32):
        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op, inputs, stem, **attributes):
        output = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def activation(self, tensor, name, where):
        if name == "linear":
            return tensor
        if name == "leaky":
            return self.node("LeakyRelu", [tensor], "leaky", alpha=0.1)
        if name == "relu":
            return self.node("Relu", [tensor], "relu")
        if name == "logistic":
            return self.node("Sigmoid", [tensor], "logistic")
        if name == "swish":
            return self.node("Mul", [tensor, self.node("Sigmoid", [tensor], "sigmoid")], "swish")
        if name == "mish":
            softplus = self.node("Softplus", [tensor], "softplus")
            return self.node("Mul", [tensor, self.node("Tanh", [softplus], "tanh")], "mish")
        if name == "relu6":
            return self.node("Clip", [tensor, self.constant("low", 0.0), self.constant("high", 6.0)], "relu6")
        raise ConversionError(f"{where}: activation '{name}' is not supported by this converter")

    # Tensors are either images [N, C, H, W] or flat [N, count]; shapes as Darknet's (c, h, w).
    def as_image(self, value):
        tensor, rank, shape = value
        return tensor if rank == 4 else self.node("Unsqueeze", [tensor, self.constant("axes", [2, 3], np.int64)], "image")

    def as_flat(self, value):
        tensor, rank, shape = value
        return tensor if rank == 2 else self.node("Flatten", [tensor], "flat", axis=1)

    def convert(self):
        net = self.sections[0]
        if net[0] not in ("net", "network"):
            raise ConversionError(f"{self.cfg_path}: the first section must be [net]")
        options = net[1]
        c, h, w = (int(options.get(k, 0)) for k in ("channels", "height", "width"))
        if not (c and h and w):
            raise ConversionError(f"{self.cfg_path}: [net] must give width, height and channels")
        current = ("input", 4, (c, h, w))
        outputs = []
        for index, (kind, options, line) in enumerate(self.sections[1:]):
            where = f"{self.cfg_path}:{line}: [{kind}] layer {index}"
            get = lambda key, default: int(options.get(key, default))
            getf = lambda key, default: float(options.get(key, default))
            if kind in ("convolutional", "conv"):
                c, h, w = current[2]
                filters, size, stride = get("filters", 1), get("size", 1), get("stride", 1)
                padding = size // 2 if get("pad", 0) else get("padding", 0)
                groups = get("groups", 1)
                bn = get("batch_normalize", 0)
                biases = self.weights.take(filters)
                if bn:
                    scales, mean, variance = (self.weights.take(filters) for _ in range(3))
                rows = c // groups * size * size
                weights = self.weights.take(filters * rows)
                if get("flipped", 0):
                    weights = weights.reshape(rows, filters).T
                weights = weights.reshape(filters, c // groups, size, size)
                if bn:
                    weights, biases = fold_batchnorm(weights, biases, scales, mean, variance)
                tensor = self.node("Conv", [self.as_image(current), self.constant("w", weights), self.constant("b", biases)], "conv",
                                   kernel_shape=[size, size], strides=[stride, stride], pads=[padding] * 4, group=groups)
                tensor = self.activation(tensor, options.get("activation", "logistic"), where)
                shape = (filters, (h + 2 * padding - size) // stride + 1, (w + 2 * padding - size) // stride + 1)
                current = (tensor, 4, shape)
            elif kind in ("connected", "conn"):
                c, h, w = current[2]
                inputs, count = c * h * w, get("output", 1)
                biases = self.weights.take(count)
                weights = self.weights.take(inputs * count)
                weights = weights.reshape(inputs, count).T if self.weights.transpose else weights.reshape(count, inputs)
                if get("batch_normalize", 0):
                    scales, mean, variance = (self.weights.take(count) for _ in range(3))
                    weights, biases = fold_batchnorm(weights, biases, scales, mean, variance)
                tensor = self.node("Gemm", [self.as_flat(current), self.constant("w", weights), self.constant("b", biases)], "fc", transB=1)
                tensor = self.activation(tensor, options.get("activation", "logistic"), where)
                current = (tensor, 2, (count, 1, 1))
            elif kind in ("maxpool", "max"):
                c, h, w = current[2]
                stride = get("stride", 1)
                size = get("size", stride)
                padding = get("padding", size - 1)
                before, after = padding // 2, padding - padding // 2
                if after >= size:
                    raise ConversionError(f"{where}: padding {padding} is too large for ONNX's MaxPool (size {size})")
                tensor = self.node("MaxPool", [self.as_image(current)], "maxpool", kernel_shape=[size, size],
                                   strides=[stride, stride], pads=[before, before, after, after])
                current = (tensor, 4, (c, (h + padding - size) // stride + 1, (w + padding - size) // stride + 1))
            elif kind in ("avgpool", "avg"):
                c = current[2][0]
                current = (self.node("GlobalAveragePool", [self.as_image(current)], "avgpool"), 4, (c, 1, 1))
            elif kind in ("softmax", "soft"):
                if get("groups", 1) != 1 or "tree" in options:
                    raise ConversionError(f"{where}: only a plain softmax (groups=1, no tree) is supported")
                tensor = self.as_flat(current)
                temperature = getf("temperature", 1)
                if temperature != 1:
                    tensor = self.node("Div", [tensor, self.constant("t", temperature)], "temperature")
                c, h, w = current[2]
                current = (self.node("Softmax", [tensor], "softmax", axis=1), 2, (c * h * w, 1, 1))
            elif kind == "dropout":
                pass
            elif kind == "cost":
                outputs.append(None)
                continue
            elif kind == "route":
                sources = [int(v) for v in options["layers"].split(",")]
                sources = [index + s if s < 0 else s for s in sources]
                chosen = [outputs[s] for s in sources]
                if any(v is None for v in chosen):
                    raise ConversionError(f"{where}: routes a [cost] layer")
                shapes = [v[2] for v in chosen]
                if any(s[1:] != shapes[0][1:] for s in shapes):
                    raise ConversionError(f"{where}: routed layers differ in width or height")
                shape = (sum(s[0] for s in shapes), shapes[0][1], shapes[0][2])
                if len(chosen) == 1:
                    current = chosen[0]
                else:
                    current = (self.node("Concat", [self.as_image(v) for v in chosen], "route", axis=1), 4, shape)
            elif kind == "shortcut":
                source = get("from", 0)
                source = index + source if source < 0 else source
                other = outputs[source]
                (c, h, w), (c2, h2, w2) = current[2], other[2]
                added = self.as_image(other)
                stride, sample = max(w2 // w, 1), max(w // w2, 1)
                if sample != 1:
                    raise ConversionError(f"{where}: adding a smaller layer (upsampling) is not supported")
                if (c2, h2, w2) != (c, h, w):
                    # Darknet adds from[x * stride, y * stride] for the common width, height and channels.
                    mc, mh, mw = min(c, c2), min(h, h2), min(w, w2)
                    added = self.node("Slice", [added, self.constant("starts", [0, 0, 0], np.int64),
                                                self.constant("ends", [mc, mh * stride, mw * stride], np.int64),
                                                self.constant("axes", [1, 2, 3], np.int64),
                                                self.constant("steps", [1, stride, stride], np.int64)], "sample")
                    if (mc, mh, mw) != (c, h, w):
                        added = self.node("Pad", [added, self.constant("pads", [0, 0, 0, 0, 0, c - mc, h - mh, w - mw], np.int64)], "pad")
                alpha, beta = getf("alpha", 1), getf("beta", 1)
                mine = self.as_image(current)
                if alpha != 1:
                    mine = self.node("Mul", [mine, self.constant("alpha", alpha)], "alpha")
                if beta != 1:
                    added = self.node("Mul", [added, self.constant("beta", beta)], "beta")
                tensor = self.node("Add", [mine, added], "shortcut")
                current = (self.activation(tensor, options.get("activation", "linear"), where), 4, (c, h, w))
            elif kind == "scale_channels":
                # AlexeyAB's: the earlier output times the scales (1x1xC, or WxHx1 with scale_wh),
                # which ONNX's Mul broadcasts.
                source = get("from", 0)
                source = index + source if source < 0 else source
                other = outputs[source]
                tensor = self.node("Mul", [self.as_image(other), self.as_image(current)], "scale")
                current = (self.activation(tensor, options.get("activation", "linear"), where), 4, other[2])
            elif kind == "crop":
                c, h, w = current[2]
                ch, cw = get("crop_height", 1), get("crop_width", 1)
                top, left = (h - ch) // 2, (w - cw) // 2
                tensor = self.node("Slice", [self.as_image(current), self.constant("starts", [top, left], np.int64),
                                             self.constant("ends", [top + ch, left + cw], np.int64),
                                             self.constant("axes", [2, 3], np.int64)], "crop")
                if not get("noadjust", 0):
                    tensor = self.node("Mul", [tensor, self.constant("two", 2.0)], "scale")
                    tensor = self.node("Add", [tensor, self.constant("minus_one", -1.0)], "shift")
                current = (tensor, 4, (c, ch, cw))
            else:
                raise ConversionError(f"{where}: layer type not supported by this converter")
            outputs.append(current)
        self.weights.finish()

        last_index = max(i for i, v in enumerate(outputs) if v is not None)
        last = outputs[last_index]
        if self.logits:
            if self.sections[1 + last_index][0] not in ("softmax", "soft") or last_index == 0:
                raise ConversionError(f"{self.cfg_path}: --logits needs a network that ends with [softmax]")
            last = outputs[last_index - 1]
        self.nodes.append(helper.make_node("Identity", [self.as_flat(last)], ["output"], name="output"))
        count = last[2][0] * last[2][1] * last[2][2]
        c, h, w = (int(net[1][k]) for k in ("channels", "height", "width"))
        graph = helper.make_graph(
            self.nodes, "darknet",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", count])],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="darkscope darknet2onnx")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def main():
    args = sys.argv[1:]
    logits = args[:1] == ["--logits"]
    args = args[1:] if logits else args
    if len(args) != 3:
        sys.exit("usage: darknet2onnx.py [--logits] CFG WEIGHTS OUT.onnx")
    try:
        model = Converter(args[0], args[1], logits).convert()
    except (ConversionError, OSError, KeyError, ValueError) as error:
        sys.exit(f"darknet2onnx: {error}")
    onnx.save(model, args[2])


if __name__ == "__main__":
    main()
