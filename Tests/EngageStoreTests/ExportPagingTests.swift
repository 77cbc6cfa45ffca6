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
        }
    }
}
