import EngageModel
import EngageProtocol
import EngageTestSupport
import Foundation
import NIOCore
import Testing

/// proto-spec/vectors.json, written by an independent encoder (proto-spec/make_vectors.py).
struct GoldenVector: Sendable, CustomStringConvertible {
    let name: String
    let type: UInt8
    let requestID: UInt32
    let bytes: [UInt8]
    var description: String { self.name }

    static func all() throws -> [GoldenVector] {
        let url = RepositoryPaths.protocolVectors
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["vectors"] as! [[String: Any]]).map { vector in
            let hex = Array((vector["hex"] as! String).utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
            return GoldenVector(
                name: vector["name"] as! String,
                type: UInt8(vector["type"] as! Int),
                requestID: UInt32(vector["request_id"] as! Int),
                bytes: bytes
            )
        }
    }
}

/// What each vector must decode to: written from the vector descriptions, not from the codec.
enum ExpectedMessage {
    case request(Request)
    case response(Response)

    static func named(_ name: String) -> ExpectedMessage? {
        let january1 = CivilDate("2026-01-01")!
        switch name {
        case "hello": return .request(.hello(Hello(minimumVersion: 1, maximumVersion: 1, token: "", clientName: "engage-cli")))
        case "hello_with_token":
            return .request(.hello(Hello(minimumVersion: 1, maximumVersion: 2, token: "s3cret", clientName: "loadgen")))
        case "hello_ok":
            return .response(
                .helloOK(
                    HelloOK(
                        version: 1, serverName: "engaged 0.1.0", timeZone: "America/New_York", maximumFrameLength: 16_777_216,
                        maximumBatchItems: 100_000, maximumInFlight: 64
                    )
                )
            )
        case "ping": return .request(.ping(nonce: 0x0102_0304_0506_0708))
        case "pong": return .response(.pong(nonce: 0x0102_0304_0506_0708))
        case "define_actions":
            return .request(
                .defineActions([
                    ActionDefinition(actionType: "login", category: "session", engagementWeight: 0, isCoreAction: false),
                    ActionDefinition(actionType: "share", category: "social_interaction", engagementWeight: 2, isCoreAction: true),
                ])
            )
        case "define_actions_result": return .response(.defineActionsResult(BatchResult(accepted: 2)))
        case "upsert_users":
            return .request(
                .upsertUsers([
                    UserProfile(
                        userID: "u7-000003",
                        registrationDate: CivilDate("2026-01-15"),
                        attributes: [.acquisitionChannel: "paid_search", .userSegment: "pro", .deviceType: "ios", .region: "eu"]
                    ),
                    UserProfile(userID: "user-ü-1@example.com", attributes: [.region: "latam"]),
                ])
            )
        case "upsert_users_result":
            return .response(.upsertUsersResult(BatchResult(accepted: 1, rejected: [Rejection(index: 1, reason: .invalidUserID)])))
        case "ingest_events":
            return .request(
                .ingestEvents(
                    IngestBatch(
                        strings: ["u7-000001", "like", "home", "view_feed"].map { Array($0.utf8) },
                        events: [
                            .init(userRef: 0, eventID: Array("e7-1".utf8), timestampMs: 1_771_111_209_608, actionRef: 1, contextRef: 2, metadata: []),
                            .init(
                                userRef: 0, eventID: Array("e7-2".utf8), timestampMs: 1_771_111_500_000, actionRef: 3,
                                contextRef: IngestBatch.noContext, metadata: Array(#"{"k":8}"#.utf8)
                            ),
                        ]
                    )
                )
            )
        case "ingest_result":
            return .response(.ingestResult(BatchResult(accepted: 1, duplicates: 1, rejected: [Rejection(index: 2, reason: .timestampOutOfRange)])))
        case "query_activity":
            return .request(
                .queryActivity(
                    ActivityQuery(
                        from: january1,
                        to: CivilDate("2026-03-31")!,
                        filters: [
                            DimensionFilter(dimension: .attribute(.acquisitionChannel), values: ["paid_search", "organic"]),
                            DimensionFilter(dimension: .attribute(.region), values: ["eu"]),
                        ],
                        breakdown: .attribute(.deviceType)
                    )
                )
            )
        case "activity_result":
            return .response(
                .activityResult([
                    ActivityRow(group: "ios", date: january1, dau: 4, wau: 4, mau: 4),
                    ActivityRow(group: "ios", date: january1.adding(days: 1), dau: 3, wau: 5, mau: 5),
                ])
            )
        case "stats": return .request(.stats)
        case "stats_result":
            return .response(
                .statsResult(
                    StoreStats(
                        events: 30979, duplicates: 619, users: 142, actions: 9, days: 91, bytesOnDisk: 1_048_576, timeZone: "UTC",
                        firstDay: january1, lastDay: CivilDate("2026-04-01")
                    )
                )
            )
        case "stats_result_empty":
            return .response(
                .statsResult(
                    StoreStats(events: 0, duplicates: 0, users: 0, actions: 0, days: 0, bytesOnDisk: 32768, timeZone: "UTC", firstDay: nil, lastDay: nil)
                )
            )
        case "error":
            return .response(.error(ProtocolError(.frameTooLarge, "frame length 20000000 exceeds the maximum of 16777216 bytes")))
        default: return nil
        }
    }
}

@Suite("Golden vectors of proto-spec/")
struct GoldenVectorTests {
    @Test("there is a vector for every message type")
    func everyTypeHasAVector() throws {
        let types = Set(try GoldenVector.all().map(\.type))
        for type in MessageType.allCases { #expect(types.contains(type.rawValue), "no vector for \(type)") }
    }

    @Test("each vector decodes to the expected message and re-encodes to the same bytes", arguments: try GoldenVector.all())
    func roundTrip(vector: GoldenVector) throws {
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: vector.bytes)
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(buffer.readableBytes == 0)
        #expect(frame.type == vector.type)
        #expect(frame.requestID == vector.requestID)
        let expected = try #require(ExpectedMessage.named(vector.name), "no expectation for vector \(vector.name)")
        var encoded = ByteBuffer()
        switch expected {
        case .request(let request):
            #expect(try Request.decode(frame) == request)
            request.encode(requestID: vector.requestID).write(into: &encoded)
        case .response(let response):
            #expect(try Response.decode(frame) == response)
            response.encode(requestID: vector.requestID).write(into: &encoded)
        }
        #expect(Array(encoded.readableBytesView) == vector.bytes)
    }
}
