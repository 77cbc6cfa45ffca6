import EngageProtocol

/// One page of an export and the cursor of the next (empty: the export is complete).
public struct ExportPage: Sendable {
    /// The page's rows, each holding the table's columns in order.
    public var rows: [[ExportValue]]
    /// The cursor that asks for the next page; empty on the last page.
    public var nextCursor: [UInt8]
}

extension EngageConnection {
    /// One page of an export: `cursor` empty for the first page, then the `nextCursor` of the previous page
    /// with the same table and range. For readers that want whole pages, or to ask for the next page while
    /// handling this one (``export(_:from:to:pageSize:_:)`` reads row by row).
    public func exportPage(
        _ table: ExportTable,
        from: CivilDate? = nil,
        to: CivilDate? = nil,
        cursor: [UInt8] = [],
        pageSize: Int = 10_000
    ) async throws -> ExportPage {
        let page = try await self.execute(Export(table, from: from, to: to, cursor: cursor, limit: pageSize))
        return ExportPage(rows: page.rows, nextCursor: page.next)
    }
}
