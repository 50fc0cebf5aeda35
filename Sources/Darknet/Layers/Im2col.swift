/// Unrolls an image into a matrix whose columns are the receptive fields of a
/// convolution, so the convolution becomes one GEMM (Darknet's `im2col_cpu`).
/// Row `(c * size + dy) * size + dx`, column `y * outWidth + x`; zeros outside the image.
func im2col(
    _ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    size: Int, stride: Int, padding: Int, into columns: UnsafeMutablePointer<Float>
) {
    let outHeight = (height + 2 * padding - size) / stride + 1
    let outWidth = (width + 2 * padding - size) / stride + 1
    var index = 0
    for c in 0..<channels {
        let plane = image + c * height * width
        for dy in 0..<size {
            for dx in 0..<size {
                for y in 0..<outHeight {
                    let row = y * stride + dy - padding
                    guard row >= 0 && row < height else {
                        (columns + index).update(repeating: 0, count: outWidth)
                        index += outWidth
                        continue
                    }
                    let line = plane + row * width
                    for x in 0..<outWidth {
                        let column = x * stride + dx - padding
                        columns[index] = column >= 0 && column < width ? line[column] : 0
                        index += 1
                    }
                }
            }
        }
    }
}
