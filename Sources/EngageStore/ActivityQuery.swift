import EngageModel
import LMDB

extension EngageStore {
    /// Daily DAU, WAU and MAU over [from, to], optionally filtered and broken down (SEMANTICS.md).
    ///
    /// Without filters and breakdown this reads the maintained series: time proportional to days. Otherwise
    /// it sweeps the per-day active sets from `from - 29`, intersected with the matching users: time
    /// proportional to days plus the matching users' active days. Raw events are never read.
    ///
    /// Days after the store's last day are unfinished: their rows carry nil counts.
    public func activity(_ query: ActivityQuery) throws -> [ActivityRow] {
        try Self.checkRange(query.from, query.to)
        let from = Int(query.from.storeDay!)
        let to = Int(query.to.storeDay!)
        return try self.read { txn, reader in
            var rows =
                query.filters.isEmpty && query.breakdown == nil
                ? try Self.maintainedSeries(from: from, to: to, txn, reader)
                : try Self.sweptSeries(query, from: from, to: to, txn, reader)
            let lastDay = try reader.lastDay(txn)
            for index in rows.indices where !reader.isFinished(rows[index].date...rows[index].date, lastDay: lastDay) {
                rows[index].dau = nil
                rows[index].wau = nil
                rows[index].mau = nil
            }
            return rows
        }
    }

    private static func maintainedSeries(
        from: Int,
        to: Int,
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [ActivityRow] {
        var rows = (from...to).map { ActivityRow(date: CivilDate(storeDay: StoreDay($0)), dau: 0, wau: 0, mau: 0) }
        try reader.schema.series.forEach(from: StoreDay(from), txn) { day, series in
            guard Int(day) <= to else { return false }
            rows[Int(day) - from].dau = Int(series.dau)
            rows[Int(day) - from].wau = Int(series.wau)
            rows[Int(day) - from].mau = Int(series.mau)
            return true
        }
        return rows
    }

    private static func sweptSeries(
        _ query: ActivityQuery,
        from: Int,
        to: Int,
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [ActivityRow] {
        let grouping = try reader.grouping(Selection(filters: query.filters, breakdown: query.breakdown), txn)
        let series = try ActivitySweep.run(
            from: from,
            to: to,
            groupCount: grouping.names.count,
            userCapacity: grouping.capacity,
            groupOf: { Int32(grouping.group($0)) },
            txn,
            reader
        )
        var rows: [ActivityRow] = []
        rows.reserveCapacity(grouping.names.count * (to - from + 1))
        for (group, name) in grouping.names.enumerated() {
            for day in from...to {
                let counts = series[group][day - from]
                rows.append(
                    ActivityRow(
                        group: name,
                        date: CivilDate(storeDay: StoreDay(day)),
                        dau: counts.dau,
                        wau: counts.wau,
                        mau: counts.mau
                    )
                )
            }
        }
        return rows
    }
}

/// The exact WAU/MAU sweep over the per-day active sets: each user's active day d covers
/// [max(d, previous + w), d + w - 1] of the window-w series, previous being that user's last active day.
enum ActivitySweep {
    static func run(
        from: Int,
        to: Int,
        groupCount: Int,
        userCapacity: Int,
        groupOf: (UInt32) -> Int32,
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [[(dau: Int, wau: Int, mau: Int)]] {
        let dayCount = to - from + 1
        var dau = [[Int]](repeating: [Int](repeating: 0, count: dayCount), count: groupCount)
        var wauDiff = [[Int]](repeating: [Int](repeating: 0, count: dayCount + 1), count: groupCount)
        var mauDiff = wauDiff
        var lastActive = [Int32](repeating: Int32.min / 2, count: userCapacity)
        func cover(_ diff: inout [Int], _ low: Int, _ high: Int) {
            let clippedLow = max(low, from)
            let clippedHigh = min(high, to)
            guard clippedLow <= clippedHigh else { return }
            diff[clippedLow - from] += 1
            diff[clippedHigh - from + 1] -= 1
        }
        for day in (from - 29)...to {
            try reader.activeChunks(day, txn) { chunk, bits in
                let base = Int(chunk) * usersPerChunk
                for (wordIndex, word) in bits.words.enumerated() where word != 0 {
                    var remaining = word
                    while remaining != 0 {
                        let user = base + wordIndex * 64 + remaining.trailingZeroBitCount
                        remaining &= remaining - 1
                        guard user < userCapacity else { continue }
                        let group = Int(groupOf(UInt32(user)))
                        guard group >= 0 else { continue }
                        if day >= from { dau[group][day - from] += 1 }
                        let previous = Int(lastActive[user])
                        cover(&mauDiff[group], max(day, previous + 30), day + 29)
                        cover(&wauDiff[group], max(day, previous + 7), day + 6)
                        lastActive[user] = Int32(day)
                    }
                }
            }
        }
        var result: [[(dau: Int, wau: Int, mau: Int)]] = []
        for group in 0..<groupCount {
            var wau = 0
            var mau = 0
            var rows: [(dau: Int, wau: Int, mau: Int)] = []
            rows.reserveCapacity(dayCount)
            for index in 0..<dayCount {
                wau += wauDiff[group][index]
                mau += mauDiff[group][index]
                rows.append((dau[group][index], wau, mau))
            }
            result.append(rows)
        }
        return result
    }
}
