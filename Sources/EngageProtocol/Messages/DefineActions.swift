import EngageModel
import NIOCore

/// DEFINE_ACTIONS (0x03): defines or updates catalog actions (4.3).
public struct DefineActions: RequestMessage {
    public typealias Response = DefineActionsResult
    public static let messageType = MessageType.defineActions

    public var actions: [ActionDefinition]

    public init(_ actions: [ActionDefinition]) { self.actions = actions }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt16.self, "count", minimumSize: 9)
        self.actions = try payload.readItems(count) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> ActionDefinition in
            ActionDefinition(
                actionType: try buffer.readShortString("action_type"),
                category: try buffer.readShortString("action_category"),
                engagementWeight: try buffer.read(Int32.self, "engagement_weight"),
                isCoreAction: try buffer.readFlag("is_core_action")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(UInt16(clamping: self.actions.count))
        for action in self.actions.prefix(Int(UInt16.max)) {
            payload.writeShortString(action.actionType)
            payload.writeShortString(action.category)
            payload.writeInteger(action.engagementWeight)
            payload.writeFlag(action.isCoreAction)
        }
    }
}
