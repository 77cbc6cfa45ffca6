import Foundation
import LMDB
import Testing

@Suite("LMDB wrapper")
struct LMDBTests {
    static func environment() throws -> (Environment, String) {
        let path = NSTemporaryDirectory() + "lmdb-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return (
            try Environment(path: path, options: .init(mapSize: 1 << 20, maxDatabases: 4, unsafeNoSync: true)), path
        )
    }

    @Test("a write commits when its closure returns and aborts when it throws")
    func commitAndAbort() throws {
        let (environment, path) = try Self.environment()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try environment.openDatabase("t")
        _ = try environment.write { try $0.put(db, key: [1], value: [10]) }
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            try environment.write { txn in
                _ = try txn.put(db, key: [2], value: [20])
                throw Failure()
            }
        }
        let values = try environment.read { txn in
            (try txn.get(db, key: [1]).map { Array($0) }, try txn.get(db, key: [2]).map { Array($0) })
        }
        #expect(values.0 == [10])
        #expect(values.1 == nil)
        let replaced = try environment.write { try $0.put(db, key: [1], value: [11], flags: .noOverwrite) }
        #expect(replaced == false)
    }

    @Test("deleting at a cursor leaves it on the next entry")
    func cursorDelete() throws {
        let (environment, path) = try Self.environment()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try environment.openDatabase("t")
        try environment.write { txn in for key in UInt8(0)..<10 { try txn.put(db, key: [key], value: [key]) } }
        try environment.write { txn in
            try txn.withCursor(db) { cursor in
                var entry = try cursor.first()
                while let current = entry, current.key[0] < 5 {
                    try cursor.deleteCurrent()
                    entry = try cursor.current()
                }
            }
        }
        var left: [UInt8] = []
        try environment.read { txn in
            try txn.forEach(db, prefix: []) {
                left.append($0.key[0])
                return true
            }
        }
        #expect(left == [5, 6, 7, 8, 9])
    }

    @Test("a full map is reported as such, and growing it lets the write through")
    func mapGrowth() throws {
        let (environment, path) = try Self.environment()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try environment.openDatabase("t")
        let value = [UInt8](repeating: 7, count: 1000)
        func fill() throws {
            try environment.write { txn in
                for key in 0..<2000 { try txn.put(db, key: Array(String(key).utf8), value: value) }
            }
        }
        do {
            try fill()
            Issue.record("a 1 MiB map held 2 MB")
        } catch let error as LMDBError {
            #expect(error.isMapFull)
        }
        try environment.setMapSize(16 << 20)
        try fill()
        #expect(try environment.read { try $0.count(db) } == 2000)
    }

    @Test("prefix scans stop at the end of the prefix; seek(atMost:) finds the last key not above")
    func scans() throws {
        let (environment, path) = try Self.environment()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try environment.openDatabase("t")
        try environment.write { txn in
            for key in [[1, 1], [1, 2], [2, 1], [2, 5], [3, 0]] as [[UInt8]] { try txn.put(db, key: key, value: []) }
        }
        try environment.read { txn in
            var seen: [[UInt8]] = []
            try txn.forEach(db, prefix: [2]) {
                seen.append(Array($0.key))
                return true
            }
            #expect(seen == [[2, 1], [2, 5]])
            let found = try txn.withCursor(db) { cursor in
                [
                    try cursor.seek(atMost: [2, 3]).map { Array($0.key) },
                    try cursor.seek(atMost: [2, 5]).map { Array($0.key) },
                    try cursor.seek(atMost: [9]).map { Array($0.key) },
                ]
            }
            #expect(found == [[2, 1], [2, 5], [3, 0]])
        }
    }
}
