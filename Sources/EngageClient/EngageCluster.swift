/// Several engaged nodes that partition the users of one deployment (proto-spec/PROTOCOL.md section 8):
/// each user's events and profile go to the node `NodeRouting.node(of: userID, nodeCount:)`, the action
/// catalog to every node. Node `i` is the `i`-th configuration given: keep the order (and the count) fixed
/// for the deployment's life.
///
/// ```swift
/// let cluster = try await EngageCluster.connect([
///     EngageClientConfiguration(server: "10.0.0.1:7733"), EngageClientConfiguration(server: "10.0.0.2:7733"),
/// ])
/// _ = try await cluster.defineActions(actions)   // every node
/// _ = try await cluster.upsertUsers(users)       // each user to its node
/// _ = try await cluster.ingest(events)           // each event to its user's node
/// try await cluster.waitApplied()
/// try await cluster.close()
/// ```
///
/// Queries of one node cover that node's users only; the ClickHouse tier answers for all of them.
public final class EngageCluster: Sendable {
    /// The nodes, in routing order.
    public let nodes: [EngageConnection]

    /// A cluster over connections already open, in routing order (node `i` of PROTOCOL.md section 8 is
    /// `nodes[i]`); at least one (an empty list is a programming error and stops the program).
    public init(nodes: [EngageConnection]) {
        precondition(!nodes.isEmpty, "a cluster has at least one node")
        self.nodes = nodes
    }

    /// Connects to every node (all or none: a failure closes the connections already made).
    public static func connect(_ configurations: [EngageClientConfiguration]) async throws -> EngageCluster {
        guard !configurations.isEmpty else {
            throw EngageClientError(.invalidAddress, "a cluster needs at least one server")
        }
        var nodes: [EngageConnection] = []
        do {
            for configuration in configurations { nodes.append(try await EngageConnection.connect(configuration)) }
        } catch {
            for node in nodes { try? await node.close() }
            throw error
        }
        return EngageCluster(nodes: nodes)
    }

    /// How many nodes the users are partitioned over (fixed for a deployment: it decides every user's node).
    public var nodeCount: Int { self.nodes.count }

    /// The node that owns `userID`.
    public func nodeIndex(of userID: String) -> Int { NodeRouting.node(of: userID, nodeCount: self.nodes.count) }

    /// The connection to the node that owns `userID`.
    public func node(of userID: String) -> EngageConnection { self.nodes[self.nodeIndex(of: userID)] }

    /// Defines (or changes) actions on every node. The result is the first node's; a node that refuses
    /// throws, and a rejection on any node is reported.
    public func defineActions(_ actions: [ActionDefinition]) async throws -> BatchResult {
        let results = try await self.onEveryNode { try await $0.defineActions(actions) }
        var result = results[0]
        let rejected = Set(results.flatMap { $0.rejected.map(\.index) })
        if rejected.count > result.rejected.count {
            let reasons = Dictionary(results.flatMap { $0.rejected.map { ($0.index, $0.reason) } }) { first, _ in first
            }
            result.rejected = rejected.sorted().map { Rejection(index: $0, reason: reasons[$0]!) }
            result.accepted = actions.count - result.duplicates - result.rejected.count
        }
        return result
    }

    /// Creates or updates users, each on its node; rejections at their positions in `users`.
    public func upsertUsers(_ users: [UserProfile]) async throws -> BatchResult {
        try await self.routed(users, userID: \.userID) { try await $0.upsertUsers($1) }
    }

    /// Ingests events, each on its user's node; rejections at their positions in `events`.
    public func ingest(_ events: [Event]) async throws -> BatchResult {
        try await self.routed(events, userID: \.userID) { try await $0.ingest($1) }
    }

    /// Splits `items` by node (keeping each node's items in their order).
    public func partition<Item>(
        _ items: [Item],
        userID: (Item) -> String
    ) -> [(node: Int, items: [Item], positions: [Int])] {
        var parts = Array(repeating: (items: [Item](), positions: [Int]()), count: self.nodes.count)
        for (position, item) in items.enumerated() {
            let node = self.nodeIndex(of: userID(item))
            parts[node].items.append(item)
            parts[node].positions.append(position)
        }
        return parts.enumerated().filter { !$0.element.items.isEmpty }.map {
            ($0.offset, $0.element.items, $0.element.positions)
        }
    }

    /// Waits until every node has applied what it acknowledged; the nodes' applied sequences.
    @discardableResult
    public func waitApplied() async throws -> [Int] {
        try await self.onEveryNode { try await $0.waitApplied() }
    }

    /// Closes every node's connection; the first failure is thrown after all were closed.
    public func close() async throws {
        var failure: (any Error)?
        for node in self.nodes {
            do { try await node.close() } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    private func routed<Item: Sendable>(
        _ items: [Item],
        userID: (Item) -> String,
        _ send: @escaping @Sendable (EngageConnection, [Item]) async throws -> BatchResult
    ) async throws -> BatchResult {
        let parts = self.partition(items, userID: userID)
        let nodes = self.nodes
        let results = try await withThrowingTaskGroup(of: (BatchResult, [Int]).self) { group in
            for part in parts {
                group.addTask { (try await send(nodes[part.node], part.items), part.positions) }
            }
            var results: [(BatchResult, [Int])] = []
            for try await result in group { results.append(result) }
            return results
        }
        var total = BatchResult()
        for (result, positions) in results {
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected.map { Rejection(index: positions[$0.index], reason: $0.reason) }
        }
        total.rejected.sort { $0.index < $1.index }
        return total
    }

    private func onEveryNode<Result: Sendable>(
        _ body: @escaping @Sendable (EngageConnection) async throws -> Result
    )
        async throws -> [Result]
    {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            for (index, node) in self.nodes.enumerated() { group.addTask { (index, try await body(node)) } }
            var results = [Result?](repeating: nil, count: self.nodes.count)
            for try await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }
}
