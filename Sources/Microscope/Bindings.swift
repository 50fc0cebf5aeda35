/// A key the explorer understands, decoded from the terminal.
package enum Key: Hashable, Sendable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end, tab, enter, backspace, escape, resize
    case click(row: Int, column: Int)
    case wheelUp, wheelDown
}

/// What a key asks the explorer to do.
package enum Command: Hashable, Sendable, CaseIterable {
    case next, previous, nextPage, previousPage, first, last, previousChannel, nextChannel, focus
    case grid, normalization, colormap, compare, open, previousImage, nextImage
    case nextNetwork, previousNetwork, networksView, filters, help, quit
    case explain, nextMethod, explainClass, lookingFor, examples
    /// Explain the class ranked so in the first image's top-5 (1 to 5).
    case explainTop(Int)

    package static var allCases: [Command] {
        [.next, .previous, .nextPage, .previousPage, .first, .last, .previousChannel, .nextChannel, .focus,
         .grid, .normalization, .colormap, .compare, .open, .previousImage, .nextImage,
         .nextNetwork, .previousNetwork, .networksView, .filters, .help, .quit,
         .explain, .nextMethod, .explainClass, .lookingFor, .examples] + (1...5).map(Command.explainTop)
    }
}

/// One line of the key list: the keys as written, what they do, and the command each key gives.
package struct Binding: Sendable {
    /// How the keys are written in the help screen, the README and the man page.
    package var label: String
    package var summary: String
    package var actions: [(key: Key, command: Command)]

    init(_ label: String, _ summary: String, _ actions: [(Key, Command)]) {
        self.label = label
        self.summary = summary
        self.actions = actions.map { (key: $0.0, command: $0.1) }
    }
}

/// The explorer's keys, listed once: the key handler, the help screen, and (checked by a
/// test) the README's table and the man page all come from this list.
package enum Bindings {
    package static let all: [Binding] = [
        Binding("j k  ↓ ↑", "next / previous layer (in the maps pane: channel)",
                [(.character("j"), .next), (.down, .next), (.character("k"), .previous), (.up, .previous)]),
        Binding("PgDn PgUp", "a page of layers", [(.pageDown, .nextPage), (.pageUp, .previousPage)]),
        Binding("g G  Home End", "first / last layer",
                [(.character("g"), .first), (.home, .first), (.character("G"), .last), (.end, .last)]),
        Binding("h l  ← →", "previous / next channel",
                [(.character("h"), .previousChannel), (.left, .previousChannel),
                 (.character("l"), .nextChannel), (.right, .nextChannel)]),
        Binding("Tab", "focus the layer table or the maps", [(.tab, .focus)]),
        Binding("a", "grid of every channel / one channel large", [(.character("a"), .grid)]),
        Binding("n", "normalise per channel / per layer", [(.character("n"), .normalization)]),
        Binding("c", "colormap: grayscale, viridis, diverging", [(.character("c"), .colormap)]),
        Binding("v", "compare two images side by side (the second from the command line or the first image's folder)",
                [(.character("v"), .compare)]),
        Binding("o", "open an image by path (Tab completes, Enter opens, Esc cancels)", [(.character("o"), .open)]),
        Binding("[ ]", "previous / next image (those given, or the first image's folder)",
                [(.character("["), .previousImage), (.character("]"), .nextImage)]),
        Binding("m M", "next / previous network: every cfg in cfg/ and cfg/alexeyab/ and the one given, each with the weights found for it (else random, UNTRAINED); the images stay",
                [(.character("m"), .nextNetwork), (.character("M"), .previousNetwork)]),
        Binding("N", "networks view: the image through every network that has weights (all, marked untrained, when none has), top-5 and forward ms side by side",
                [(.character("N"), .networksView)]),
        Binding("f", "the first convolutional layer's filters in the maps pane, as Darknet's visualize draws them / the maps again",
                [(.character("f"), .filters)]),
        Binding("e", "the maps pane explains why: the chosen class's attribution map over each image / the activations again",
                [(.character("e"), .explain)]),
        Binding("E", "next attribution method: Grad-CAM, Grad-CAM++, gradient, gradient × input, SmoothGrad, Integrated Gradients, occlusion",
                [(.character("E"), .nextMethod)]),
        Binding("1 2 3 4 5", "explain the first image's top-1 … top-5 class (again: back to each image's own top-1)",
                (1...5).map { (.character(Character("\($0)")), .explainTop($0)) }),
        Binding("/", "explain a class by name or index (Tab completes over the labels)", [(.character("/"), .explainClass)]),
        Binding("w", "what each channel of the layer looks for: pictures optimized to excite them, computed in the background and kept on disk / the maps again",
                [(.character("w"), .lookingFor)]),
        Binding("x", "the channel's dataset examples: its map, its picture, and the images of the first image's folder that excite it most, cropped to where (the folder indexed in the background, as darkscope index does) / the maps again",
                [(.character("x"), .examples)]),
        Binding("mouse", "click a layer row or a channel tile to select it; the wheel moves like j/k",
                [(.wheelDown, .next), (.wheelUp, .previous)]),
        Binding("?", "list the keys", [(.character("?"), .help)]),
        Binding("q", "quit; the terminal is restored (also on SIGTERM and on a crash)", [(.character("q"), .quit)]),
    ]

    /// The command a key gives, if any.
    package static func command(for key: Key) -> Command? {
        for binding in all {
            if let action = binding.actions.first(where: { $0.key == key }) { return action.command }
        }
        return nil
    }

    /// The short line of keys on the status bar.
    package static let statusLine = "q quit  ? keys  j/k layer  h/l channel  a grid  n norm  c colours  v compare  o open  [ ] image"

    /// The README's key table, as it must stand there.
    package static var markdownTable: String {
        func code(_ label: String) -> String {
            label == "mouse" ? "mouse" : label.split(separator: " ", omittingEmptySubsequences: true)
                .map { "`\($0)`" }.joined(separator: " ")
        }
        let rows = all.map { "| \(code($0.label)) | \($0.summary) |" }
        return (["| key | does |", "|---|---|"] + rows).joined(separator: "\n")
    }

    /// The man page's key list, as it must stand there (`.TP` entries).
    package static var manPage: String {
        all.map { ".TP\n.B \($0.label)\n\($0.summary)" }.joined(separator: "\n")
    }
}
