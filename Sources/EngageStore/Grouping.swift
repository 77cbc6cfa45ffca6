import EngageModel
import LMDB

/// Which users a query counts, and the breakdown group of each.
struct Grouping {
    /// Group names, [nil] without a breakdown.
    let names: [String?]
    /// Group index by user key; -1 for users the filters leave out.
    let groupOf: [Int32]

    func group(_ user: UInt32) -> Int {
        Int(user) < self.groupOf.count ? Int(self.groupOf[Int(user)]) : -1
    }

    var capacity: Int { self.groupOf.count }
}

extension StoreReader {
    func grouping(_ selection: Selection, _ txn: borrowing Transaction) throws -> Grouping {
        let capacity = try self.userKeyLimit(txn) + 1
        let filter = try self.matching(selection.filters, capacity: capacity, txn)
        guard let dimension = selection.breakdown else {
            var groupOf = [Int32](repeating: filter == nil ? 0 : -1, count: capacity)
            filter?.forEachMember { user in if Int(user) < capacity { groupOf[Int(user)] = 0 } }
            return Grouping(names: [nil], groupOf: groupOf)
        }
        var groupOf = [Int32](repeating: -1, count: capacity)
        let groups = try self.groups(dimension, capacity: capacity, txn)
        for (index, group) in groups.enumerated() {
            group.users.forEachMember { user in
                if Int(user) < capacity && (filter?.contains(user) ?? true) { groupOf[Int(user)] = Int32(index) }
            }
        }
        return Grouping(names: groups.map(\.name), groupOf: groupOf)
    }
}

extension UserSet {
    /// Members counted per group.
    func countByGroup(_ grouping: Grouping) -> [Int] {
        var counts = [Int](repeating: 0, count: grouping.names.count)
        self.forEachMember { user in
            let group = grouping.group(user)
            if group >= 0 { counts[group] += 1 }
        }
        return counts
    }
}
