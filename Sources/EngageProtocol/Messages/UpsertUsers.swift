import EngageModel
import NIOCore

/// UPSERT_USERS (0x04): creates or updates users; attributes not sent keep their value (4.4).
public struct UpsertUsers: RequestMessage {
    public typealias Response = UpsertUsersResult
    public static let messageType = MessageType.upsertUsers

    public var users: [UserProfile]

    public init(_ users: [UserProfile]) { self.users = users }

    /// Bits of a user's `fields` byte: bit 0 the registration date, bits 1-4 the attributes.
    enum FieldBit {
        static let registrationDate: UInt8 = 1
        static func attribute(_ attribute: Attribute) -> UInt8 { 1 << UInt8(attribute.index + 1) }
        static let all: UInt8 = 0x1F
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "count", minimumSize: 3)
        self.users = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> UserProfile in
            var profile = UserProfile(userID: try buffer.readShortString("user_id"))
            let fields = try buffer.read(UInt8.self, "fields")
            guard fields & ~FieldBit.all == 0 else {
                throw ProtocolError(.invalidField, "fields 0x\(String(fields, radix: 16)) sets undefined bits")
            }
            if fields & FieldBit.registrationDate != 0 {
                profile.registrationDate = try buffer.readDate("registration_date")
            }
            for attribute in Attribute.allCases where fields & FieldBit.attribute(attribute) != 0 {
                profile.attributes[attribute] = try buffer.readShortString("attribute")
            }
            return profile
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.users.count)
        for user in self.users {
            payload.writeShortString(user.userID)
            var fields: UInt8 = user.registrationDate == nil ? 0 : FieldBit.registrationDate
            for attribute in Attribute.allCases where user.attributes[attribute] != nil {
                fields |= FieldBit.attribute(attribute)
            }
            payload.writeInteger(fields)
            if let date = user.registrationDate { payload.writeDate(date) }
            for attribute in Attribute.allCases {
                if let value = user.attributes[attribute] { payload.writeShortString(value) }
            }
        }
    }
}
