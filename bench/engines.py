#!/usr/bin/env python3
"""The Python engines of bench/run, one per process so their thread pools never meet.

    engines.py opencv CFG WEIGHTS INPUT.f32 THREADS WARMUP RUNS OUTPUT.f32 [BATCH]
    engines.py onnxruntime MODEL.onnx INPUT.f32 THREADS WARMUP RUNS OUTPUT.f32 [BATCH]

INPUT.f32 is one raw CHW float32 image at the network's size (a batch repeats it). Only the
network is timed (forward / run), not loading, not building the blob. Prints one JSON
object with the times in ms and writes image 0's output as raw float32.
"""
import json
import sys
import time

import numpy as np


def blob(path, shape, batch):
    values = np.fromfile(path, dtype="<f4")
    if values.size != int(np.prod(shape)):
        sys.exit(f"engines.py: {path} holds {values.size} floats, the network takes {shape}")
    return np.ascontiguousarray(np.broadcast_to(values.reshape((1,) + tuple(shape)), (batch,) + tuple(shape)))


def cfg_shape(cfg):
    options = {}
    with open(cfg) as f:
        for raw in f:
            line = "".join(raw.split())
            if line.startswith("[") and options:
                break
            if "=" in line and line[0] not in "#;":
                key, value = line.split("=", 1)
                options[key] = int(value) if value.lstrip("-").isdigit() else value
    return (options["channels"], options["height"], options["width"])


def timed(run, warmup, runs):
    for _ in range(warmup):
        run()
    times, output = [], None
    for _ in range(runs):
        start = time.perf_counter()
        output = run()
        times.append((time.perf_counter() - start) * 1e3)
    return times, output


def opencv(cfg, weights, input_path, threads, warmup, runs, batch):
    import cv2
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(cfg, weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(blob(input_path, cfg_shape(cfg), batch))
    times, output = timed(net.forward, warmup, runs)
    return times, output, {"version": cv2.__version__, "threads": cv2.getNumThreads()}


def onnxruntime(model, input_path, threads, warmup, runs, batch):
    import onnx
    import onnxruntime as ort
    dims = onnx.load(model, load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feed = {"input": blob(input_path, [d.dim_value for d in dims[1:]], batch)}
    times, output = timed(lambda: session.run(["output"], feed)[0], warmup, runs)
    return times, output, {"version": ort.__version__, "threads": threads}


def main():
    args = sys.argv[1:]
    if len(args) in (8, 9) and args[0] == "opencv":
        _, cfg, weights, input_path, threads, warmup, runs, out = args[:8]
        batch = int(args[8]) if len(args) == 9 else 1
        times, output, info = opencv(cfg, weights, input_path, int(threads), int(warmup), int(runs), batch)
    elif len(args) in (7, 8) and args[0] == "onnxruntime":
        _, model, input_path, threads, warmup, runs, out = args[:7]
        batch = int(args[7]) if len(args) == 8 else 1
        times, output, info = onnxruntime(model, input_path, int(threads), int(warmup), int(runs), batch)
    else:
        sys.exit(__doc__)
    np.asarray(output, dtype="<f4").reshape(batch, -1)[0].tofile(out)
    print(json.dumps({"engine": args[0], "times_ms": times, **info}))


if __name__ == "__main__":
    main()
