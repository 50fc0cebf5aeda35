"""Writes scikit-learn's 8x8 digits as 16x16 RGB PNGs in DIR/train/LABEL/ and DIR/valid/LABEL/
(every fifth image held out for validation), and DIR/names.txt."""
import os
import struct
import sys
import zlib

import numpy as np
from sklearn.datasets import load_digits


def write_png(path, gray):
    """An 8-bit RGB PNG of a 2-D array of 0..255, by hand (no imaging library needed)."""
    height, width = gray.shape
    rows = b"".join(b"\0" + bytes(np.repeat(row, 3)) for row in gray.astype(np.uint8))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main(folder):
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        part = "valid" if index % 5 == 0 else "train"
        os.makedirs(f"{folder}/{part}/{label}", exist_ok=True)
        # 0..16 to 0..255, each pixel doubled across and down.
        big = np.kron(image * 255 / 16, np.ones((2, 2)))
        write_png(f"{folder}/{part}/{label}/{index}.png", big)
    with open(f"{folder}/names.txt", "w") as names:
        names.write("".join(f"{label}\n" for label in range(10)))


if __name__ == "__main__":
    main(sys.argv[1])
