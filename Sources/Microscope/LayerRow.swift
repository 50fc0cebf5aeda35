import Darknet
import Foundation

/// One row of the explorer's layer table, in Darknet's columns.
package struct LayerRow: Equatable, Sendable {
    package var index: Int
    package var type: String
    package var filters: String
    package var window: String
    package var input: Shape
    package var output: Shape
    package var billions: Double?

    package init(index: Int, layer: any Layer) {
        self.index = index
        input = layer.input
        output = layer.output
        billions = layer.operations > 0 ? Double(layer.operations) / 1e9 : nil
        filters = ""
        window = ""
        // An antialiased layer shows as its host, with the blur's stride after its window.
        let antialiased = layer as? Antialiased
        switch antialiased?.host ?? layer {
        case let conv as Convolutional:
            type = "conv"
            filters = "\(conv.filters)"
            window = "\(conv.size)x\(conv.size)/" + (conv.strideX == conv.strideY ? "\(conv.strideX)" : "\(conv.strideX)x\(conv.strideY)")
                + (conv.dilation > 1 ? "(\(conv.dilation))" : "")
        case let pool as MaxPool:
            type = "max"
            window = pool.acrossChannels ? "depth" : "\(pool.size)x\(pool.size)/" + (pool.strideX == pool.strideY ? "\(pool.strideX)" : "\(pool.strideX)x\(pool.strideY)")
        case is AvgPool: type = "avg"
        case let connected as Connected:
            type = "connected"
            filters = "\(connected.output.count)"
        case is Softmax: type = "softmax"
        case is Dropout: type = "dropout"
        case let route as Route:
            type = "route"
            window = route.sources.map(String.init).joined(separator: ",")
        case let shortcut as Shortcut:
            type = "res"
            window = "\(shortcut.from)"
        case is Crop: type = "crop"
        case is Cost: type = "cost"
        default: type = layer.sectionName
        }
        if let antialiased { window += " aa/\(antialiased.blur.strideX)" }
    }

    /// Every layer of a network, as the table shows it.
    package static func rows(of network: Network) -> [LayerRow] {
        network.layers.enumerated().map { LayerRow(index: $0.offset, layer: $0.element) }
    }

    package static let header = "  #  type      filt  size        input  ->  output     BFLOPs"

    /// Index, type and output only, for narrow terminals: 30 characters wide.
    package static let compactHeader = "  #  type      output      "

    package var compactText: String {
        String(format: "%3d  ", index) + LayerRow.left(type, 9) + " " + LayerRow.shape(output)
    }

    private static func shape(_ s: Shape) -> String {
        s.isImage ? String(format: "%3dx%3dx%4d", s.width, s.height, s.channels) : String(format: "%12d", s.count)
    }

    private static func left(_ text: String, _ width: Int) -> String {
        String(text.prefix(width)).padding(toLength: width, withPad: " ", startingAt: 0)
    }

    /// The Darknet columns, 64 characters wide.
    package var text: String {
        let shape = LayerRow.shape, left = LayerRow.left
        let flops = billions.map { String(format: "%6.3f", $0) } ?? "      "
        func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        return String(format: "%3d  ", index) + left(type, 9) + " " + right(filters, 4) + "  " + left(window, 7) + " "
            + shape(input) + " -> " + shape(output) + " " + flops
    }
}
