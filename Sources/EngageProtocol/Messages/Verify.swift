import EngageModel
import NIOCore

/// VERIFY (0x12): recompute every derived record from the raw events, compare, change nothing (4.21).
public struct Verify: RequestMessage {
    public typealias Response = VerifyResult
    public static let messageType = MessageType.verify

    public var maximumReported: Int

    public init(maximumReported: Int) { self.maximumReported = maximumReported }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.maximumReported = try payload.readCount("max_reported")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeCount(self.maximumReported) }
}

/// VERIFY_RESULT (0x92).
public struct VerifyResult: ResponseMessage {
    public static let messageType = MessageType.verifyResult

    public var report: VerificationReport

    public init(_ report: VerificationReport) { self.report = report }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let total = try payload.readCount64("total_issues")
        let tables = Int(try payload.read(UInt16.self, "table_count"))
        var checked: [String: Int] = [:]
        for _ in 0..<tables { checked[try payload.readShortString("table")] = try payload.readCount64("records") }
        let count = try payload.readItemCount(UInt32.self, "issue_count", minimumSize: 6)
        let issues = try payload.readItems(count) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> VerificationIssue in
            VerificationIssue(
                table: try buffer.readShortString("table"),
                key: try buffer.readShortString("key"),
                detail: try buffer.readShortString("detail")
            )
        }
        self.report = VerificationReport(checked: checked, issues: issues, totalIssues: total)
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount64(self.report.totalIssues)
        payload.writeInteger(UInt16(clamping: self.report.checked.count))
        for table in self.report.checked.keys.sorted() {
            payload.writeShortString(table)
            payload.writeCount64(self.report.checked[table]!)
        }
        payload.writeCount(self.report.issues.count)
        for issue in self.report.issues {
            payload.writeShortString(issue.table)
            payload.writeShortString(issue.key)
            payload.writeShortString(issue.detail)
        }
    }
}
