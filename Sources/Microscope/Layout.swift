/// A block of terminal cells.
package struct Rect: Hashable, Sendable {
    package var row: Int, column: Int, rows: Int, columns: Int

    package init(row: Int, column: Int, rows: Int, columns: Int) {
        self.row = row
        self.column = column
        self.rows = rows
        self.columns = columns
    }

    package var bottom: Int { row + rows }

    package func contains(row r: Int, column c: Int) -> Bool {
        (row..<bottom).contains(r) && (column..<(column + columns)).contains(c)
    }
}

/// Where each part of the screen goes at a terminal size. What matters most comes first:
/// the layer table and the predictions at every size that fits, the maps when there is room.
package struct Layout: Equatable, Sendable {
    package var rows: Int
    package var columns: Int

    package static let minimumRows = 12, minimumColumns = 40
    /// From this size on, the maps and the predictions stand side by side below the table.
    package static let wideRows = 24, wideColumns = 80
    package static let sideColumns = 34

    /// The title is row 0, the status line the last; the table starts below the title with
    /// its header row and ends with its totals row.
    package let table: Rect
    /// The maps pane (header, picture, colour scale); nil when there is no room for it.
    package let maps: Rect?
    /// The predictions (and, room permitting, the image).
    package let side: Rect

    package init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        let body = max(0, rows - 2)
        if rows >= Layout.wideRows && columns >= Layout.wideColumns {
            let tableRows = max(5, body * 2 / 5) + 1
            table = Rect(row: 1, column: 0, rows: tableRows, columns: columns)
            let bottom = Rect(row: table.bottom, column: 0, rows: rows - 1 - table.bottom, columns: columns)
            maps = Rect(row: bottom.row, column: 0, rows: bottom.rows, columns: columns - Layout.sideColumns - 1)
            side = Rect(row: bottom.row, column: columns - Layout.sideColumns, rows: bottom.rows, columns: Layout.sideColumns)
        } else {
            // One column: the table, the predictions (the top-5, or just the top-1), the maps.
            let sideRows = body >= 18 ? 6 : 2
            let mapsRows = body - sideRows - 5 >= 8 ? (body - sideRows) / 2 : 0
            table = Rect(row: 1, column: 0, rows: max(0, body - sideRows - mapsRows), columns: columns)
            side = Rect(row: table.bottom, column: 0, rows: sideRows, columns: columns)
            maps = mapsRows > 0 ? Rect(row: side.bottom, column: 0, rows: mapsRows, columns: columns) : nil
        }
    }

    package var fits: Bool { rows >= Layout.minimumRows && columns >= Layout.minimumColumns }
    /// Darknet's own columns need the width; narrower, the table shows index, type, output and time.
    package var fullTable: Bool { columns >= Layout.wideColumns }
    /// Layer rows between the table's header and totals.
    package var tableEntries: Int { max(0, table.rows - 2) }
    /// The picture area inside the maps pane: below its header, above the colour scale.
    package var picture: Rect? {
        maps.map { Rect(row: $0.row + 1, column: $0.column, rows: max(0, $0.rows - 2), columns: $0.columns) }
    }
}
