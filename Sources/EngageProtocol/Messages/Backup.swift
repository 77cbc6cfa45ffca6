import NIOCore

/// BACKUP (0x14): a consistent, compacted copy of the data directory into a path on the server (4.22).
public struct Backup: RequestMessage {
    public typealias Response = BackupResult
    public static let messageType = MessageType.backup

    public var path: String

    public init(path: String) { self.path = path }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.path = try payload.readShortString("path")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeShortString(self.path) }
}

/// BACKUP_RESULT (0x94): the copy's size in bytes.
public struct BackupResult: ResponseMessage {
    public static let messageType = MessageType.backupResult

    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.bytes = try payload.readCount64("bytes")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeCount64(self.bytes) }
}
