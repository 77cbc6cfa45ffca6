/// Which engaged node of a partitioned deployment owns a user (proto-spec/PROTOCOL.md section 8): FNV-1a 64
/// of the UTF-8 bytes of `user_id`, modulo the node count. Every event, the profile and every other record of
/// a user go to that node; the action catalog goes to every node. The node count of a deployment is fixed:
/// changing it would move users between nodes.
public enum NodeRouting {
    /// FNV-1a, 64 bits, of the UTF-8 bytes of `userID`.
    public static func hash(_ userID: String) -> UInt64 {
        FNV1a.hash(userID.utf8)
    }

    /// The node (0 ..< `nodeCount`) that owns `userID`.
    public static func node(of userID: String, nodeCount: Int) -> Int {
        precondition(nodeCount >= 1, "a deployment has at least one node")
        return Int(Self.hash(userID) % UInt64(nodeCount))
    }

    /// The node that owns the user whose id has these UTF-8 bytes.
    public static func node(ofUTF8 userID: UnsafeRawBufferPointer, nodeCount: Int) -> Int {
        precondition(nodeCount >= 1, "a deployment has at least one node")
        return Int(FNV1a.hash(userID) % UInt64(nodeCount))
    }
}
