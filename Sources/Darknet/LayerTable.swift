import Foundation

extension Network {
    /// The table Darknet prints while parsing, line for line.
    public var layerTable: [String] {
        ["layer     filters    size              input                output"]
            + layers.enumerated().map { String(format: "%5d ", $0.offset) + $0.element.tableEntry }
    }

    /// Bytes of parameters as a `.weights` file stores them (float32), header excluded.
    public var parameterBytes: Int { parameterCount * 4 }

    /// darkscope's line under the table: operations (connected layers included),
    /// parameters and the size of the weights in MB (2^20 bytes, as Darknet's authors count).
    public var totalsLine: String {
        String(format: "total %.3f BFLOPs, %ld parameters, %.2f MB of weights",
               Double(operations) / 1e9, parameterCount, Double(parameterBytes) / 1_048_576)
    }
}

extension Layer {
    /// The layer's type as the table names it: conv, max, avg, connected, softmax, dropout,
    /// route, res (a shortcut), crop, cost.
    public var tableType: String { tableEntry.prefix { $0 != " " }.lowercased() }
}
