import EngageModel
import EngageStore
import Foundation
import Testing

@Suite("Export pages")
struct ExportPagingTests {
    @Test("small pages concatenate to the same rows as large ones, for every table; rows match their columns")
    func paging() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions(Fixtures.actions())
        _ = try await store.upsertUsers(Fixtures.users())
        _ = try await temporary.ingest(Array(try Fixtures.events().prefix(3000)))
        for table in ExportTable.allCases {
            var whole: [[ExportValue]] = []
            try store.export(table) { whole.append($0) }
            #expect(!whole.isEmpty, "\(table)")
            #expect(whole.allSatisfy { $0.count == table.columns.count }, "\(table)")
            var paged: [[ExportValue]] = []
            var cursor: [UInt8]?
            var pages = 0
            repeat {
                let page = try store.exportPage(table, after: cursor, limit: 7)
                #expect(page.rows.count <= 7)
                paged += page.rows
                cursor = page.next
                pages += 1
            } while cursor != nil
            #expect(paged == whole, "\(table)")
            #expect(pages >= whole.count / 7, "\(table)")
            // Limit 0 asks for the server's maximum: here, everything in one page.
            let unlimited = try store.exportPage(table, after: nil, limit: 0)
            #expect(unlimited.rows == whole && unlimited.next == nil, "\(table): limit 0")
        }
    }

    @Test(
        "a cursor of another table or range, a damaged or a foreign one is refused with invalid_cursor, never read as the end"
    )
    func badCursors() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions(Fixtures.actions())
        _ = try await store.upsertUsers(Fixtures.users())
        _ = try await temporary.ingest(Array(try Fixtures.events().prefix(3000)))
        func code(_ body: () throws -> ExportPage) -> StoreError.Code? {
            do {
                _ = try body()
                return nil
            } catch let error as StoreError {
                return error.code
            } catch {
                return .failed
            }
        }
        let from = CivilDate("2026-01-01")!
        let to = CivilDate("2026-03-31")!
        for table in ExportTable.allCases {
            let first = try store.exportPage(table, from: from, to: to, after: nil, limit: 3)
            let cursor = try #require(first.next, "\(table) has more than one page")
            // The cursor works where it was handed out.
            #expect(try store.exportPage(table, from: from, to: to, after: cursor, limit: 3).rows.count == 3)
            // Another table, another range, damaged bytes, someone else's bytes: refused.
            let otherTable = ExportTable.allCases.first { $0 != table }!
            #expect(
                code { try store.exportPage(otherTable, from: from, to: to, after: cursor, limit: 3) }
                    == .invalidCursor,
                "\(table)"
            )
            if table.isDated {
                #expect(
                    code { try store.exportPage(table, from: from, to: to.adding(days: -1), after: cursor, limit: 3) }
                        == .invalidCursor
                )
            }
            #expect(
                code { try store.exportPage(table, from: from, to: to, after: Array(cursor.dropLast()), limit: 3) }
                    == .invalidCursor
            )
            #expect(
                code { try store.exportPage(table, from: from, to: to, after: [0, 0, 0, 42], limit: 3) }
                    == .invalidCursor
            )
            #expect(
                code {
                    try store.exportPage(table, from: from, to: to, after: Array(repeating: 0xAB, count: 40), limit: 3)
                } == .invalidCursor
            )
        }
        // One byte changed anywhere (here the position's day) is a damaged cursor.
        let daily = try #require(try store.exportPage(.dailyActivity, from: from, to: to, after: nil, limit: 3).next)
        var moved = daily
        moved[moved.count - 10] ^= 0x40
        #expect(
            code { try store.exportPage(.dailyActivity, from: from, to: to, after: moved, limit: 3) } == .invalidCursor
        )
        // Another store's cursor for the same export.
        let other = try TemporaryStore()
        _ = try await other.store.defineActions(Fixtures.actions())
        _ = try await other.store.upsertUsers(Fixtures.users())
        _ = try await other.ingest(Array(try Fixtures.events().prefix(3000)))
        #expect(
            code { try other.store.exportPage(.dailyActivity, from: from, to: to, after: daily, limit: 3) }
                == .invalidCursor
        )
    }
}
