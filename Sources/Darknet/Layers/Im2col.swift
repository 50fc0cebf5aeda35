/// Unrolls an image into a matrix whose columns are the receptive fields of a
/// convolution, so the convolution becomes one GEMM (Darknet's `im2col_cpu`).
/// Row `(c * size + dy) * size + dx`, column `y * outWidth + x`; zeros outside the image.
func im2col(
    _ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    size: Int, stride: Int, padding: Int, into columns: UnsafeMutablePointer<Float>
) {
    let outHeight = (height + 2 * padding - size) / stride + 1
    let outWidth = (width + 2 * padding - size) / stride + 1
    var row = columns
    for c in 0..<channels {
        let plane = image + c * height * width
        for dy in 0..<size {
            for dx in 0..<size {
                // Output columns whose input column x * stride + dx - padding lies inside the image.
                let first = min(outWidth, max(0, (padding - dx + stride - 1) / stride))
                let span = width - 1 + padding - dx
                let last = span < 0 ? first : max(first, min(outWidth, span / stride + 1))
                for y in 0..<outHeight {
                    let line = row + y * outWidth
                    let source = y * stride + dy - padding
                    guard source >= 0 && source < height else {
                        line.update(repeating: 0, count: outWidth)
                        continue
                    }
                    line.update(repeating: 0, count: first)
                    let input = plane + source * width + dx - padding
                    if stride == 1 {
                        (line + first).update(from: input + first, count: last - first)
                    } else {
                        for x in first..<last { line[x] = input[x * stride] }
                    }
                    (line + last).update(repeating: 0, count: outWidth - last)
                }
                row += outHeight * outWidth
            }
        }
    }
}
