import Testing

@testable import EngageClickHouse

@Suite("Sync lag: commits behind and the age of the oldest unsynced one")
struct SyncLagTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { self.start + .milliseconds(milliseconds) }

    @Test("the age runs from when the oldest unsynced commit was first seen, through a long window")
    func ageOfTheOldestUnsynced() {
        var lag = SyncLag()
        #expect(lag.behind == 0 && lag.seconds(at: self.at(0)) == 0)
        lag.observe(current: 10, at: self.at(0))
        lag.observe(current: 10, at: self.at(100))  // nothing new: the first sighting counts
        lag.observe(current: 25, at: self.at(300))
        #expect(lag.behind == 25)
        #expect(lag.seconds(at: self.at(1_000)) == 1.0)
        // A window wrote up to 10: the oldest unsynced commit is now 25's, seen at 300 ms.
        lag.synced(upTo: 10)
        #expect(lag.behind == 15)
        #expect(lag.seconds(at: self.at(1_000)) == 0.7)
        // Caught up: no lag, whatever the time.
        lag.synced(upTo: 25)
        #expect(lag.behind == 0 && lag.seconds(at: self.at(9_000)) == 0)
    }

    @Test("a checkpoint between two sightings keeps the later sighting's age; an older checkpoint changes nothing")
    func partialWindows() {
        var lag = SyncLag()
        lag.observe(current: 5, at: self.at(0))
        lag.observe(current: 9, at: self.at(500))
        lag.synced(upTo: 7)  // 5 is synced; 9, seen at 500 ms, is the oldest sighting left
        #expect(lag.behind == 2)
        #expect(lag.seconds(at: self.at(1_500)) == 1.0)
        lag.synced(upTo: 3)
        #expect(lag.behind == 2 && lag.synced == 7)
    }
}
