"""The least time each network could take on this machine (bench.py's floors table).

A floor counts only what cannot be avoided: the products of every convolution at this
machine's multiply-add peak (Winograd's α² products per tile and channel where
the default path uses it, Darknet's count elsewhere) and the connected layers'
weights read once from memory at its read rate; both measured now by bench/peak.c. Pooling,
transforms, packing and the rest count as free, so darkscope's algorithms cannot beat a
floor. (The six networks of issue 13 have no grouped convolutions, which this count would
overstate: bench.py gives floors to those six only.)
"""
import math
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

CONV = re.compile(r"\s*\d+ conv\s+(\d+)\s+(\d+) x\s*\d+ /\s*(\d+)\s+(\d+) x\s*(\d+) x\s*(\d+)\s+->\s+(\d+) x\s*(\d+)"
                  r" x\s*\d+\s+([\d.]+) BFLOPs")
CONNECTED = re.compile(r"\s*\d+ connected\s+(\d+)\s+->\s+(\d+)")


def winograd_tile(size, stride, channels, width, height, out_width, out_height):
    """The tile edge `Convolutional.fittingWinogradTile` chooses, or None (same rule)."""
    if stride != 1 or (out_width, out_height) != (width, height) or channels < 16:
        return None
    edges = [4, 2] if size == 3 else [2] if size == 5 else []
    return next((e for e in edges if math.ceil(width / e) * math.ceil(height / e) >= 16), None)


def work(darkscope, cfg):
    """(GFLOP at the peak, MB of connected weights) for one network."""
    gflop, megabytes = 0.0, 0.0
    table = subprocess.run([darkscope, "layers", cfg], capture_output=True, text=True, check=True).stdout
    for line in table.splitlines():
        if m := CONV.match(line):
            filters, size, stride, width, height, channels, out_width, out_height = map(int, m.groups()[:8])
            tile = winograd_tile(size, stride, channels, width, height, out_width, out_height)
            if tile:
                alpha = tile + size - 1
                tiles = math.ceil(out_width / tile) * math.ceil(out_height / tile)
                gflop += 2 * alpha * alpha * channels * filters * tiles / 1e9
            else:
                gflop += float(m.group(9))
        elif m := CONNECTED.match(line):
            megabytes += int(m.group(1)) * int(m.group(2)) * 4 / 1e6
    return gflop, megabytes


def ceilings(work_dir):
    """{threads: (GFLOP/s, GB/s)} for 1 and 2 threads, measured now by bench/peak.c."""
    peak = os.path.join(work_dir, "peak")
    subprocess.run(["cc", "-O2", "-march=native", "-o", peak, os.path.join(HERE, "peak.c"), "-lpthread"], check=True)
    measured = {}
    for line in subprocess.run([peak], capture_output=True, text=True, check=True).stdout.splitlines():
        threads, gflops, gbytes = line.split()
        measured[int(threads)] = (float(gflops), float(gbytes))
    return measured


def floor_ms(darkscope, cfg, ceiling):
    """The floor of one network in ms under `ceiling` (GFLOP/s, GB/s)."""
    gflop, megabytes = work(darkscope, cfg)
    return gflop / ceiling[0] * 1e3 + megabytes / ceiling[1]
