import EngageProtocol
import NIOConcurrencyHelpers
import NIOCore

/// One connection's ``ConnectionStateMachine``, shared by the parts that feed it: the guard below (bytes and
/// timers, on the event loop), the request loop, the tasks that answer requests, and the shutdown handler.
/// Each call changes the machine under a lock and returns the action for the caller to carry out.
final class ServerConnection: Sendable {
    let channel: any Channel
    private let machine: NIOLockedValueBox<ConnectionStateMachine>

    init(channel: any Channel, machine: ConnectionStateMachine) {
        self.channel = channel
        self.machine = NIOLockedValueBox(machine)
    }

    func update(
        _ event: (inout ConnectionStateMachine) -> ConnectionStateMachine.Action
    ) -> ConnectionStateMachine.Action {
        self.machine.withLockedValue { event(&$0) }
    }

    func observe(_ event: (inout ConnectionStateMachine) -> Void) {
        self.machine.withLockedValue { event(&$0) }
    }

    var state: ConnectionStateMachine.State { self.machine.withLockedValue { $0.state } }
}

/// First handler of every connection (after TLS): watches frame boundaries in the byte stream and runs the two
/// timers of the state machine — idle (nothing received, nothing owed) and frame (a frame begun and not
/// finished). When the machine says a connection is idle or slow, it gets an ERROR frame (request id 0) and
/// closes.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let connection: ServerConnection
    private let idleTimeout: TimeAmount
    private let frameTimeout: TimeAmount
    private var boundaries = FrameBoundaries()
    private var idleTimer: Scheduled<Void>?
    private var frameTimer: Scheduled<Void>?
    private let onError: @Sendable (ProtocolError) -> Void
    private var closing = false

    init(
        connection: ServerConnection,
        idleTimeout: TimeAmount,
        frameTimeout: TimeAmount,
        onError: @escaping @Sendable (ProtocolError) -> Void = { _ in }
    ) {
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.frameTimeout = frameTimeout
        self.onError = onError
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.scheduleIdle(context, at: context.eventLoop.now + self.idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.scheduleIdle(context, at: context.eventLoop.now + self.idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.frameTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let (began, completed) = self.boundaries.consume(self.unwrapInboundIn(data))
        let now = context.eventLoop.now
        if began > 0 || completed > 0 {
            let inside = self.boundaries.isInsideFrame
            self.connection.observe { machine in
                for _ in 0..<completed { machine.frameArrived(now: now) }
                if inside { machine.frameBegan(now: now) }
            }
            if inside {
                if self.frameTimer == nil { self.scheduleFrame(context, at: now + self.frameTimeout) }
            } else {
                self.frameTimer?.cancel()
                self.frameTimer = nil
            }
        }
        context.fireChannelRead(data)
    }

    private func scheduleIdle(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.idleTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.idleTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.carryOut(
                handler.connection.update { $0.idleTimerFired(now: context.eventLoop.now) },
                context,
                rearm: handler.scheduleIdle
            )
        }
    }

    private func scheduleFrame(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.frameTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.frameTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.frameTimer = nil
            handler.carryOut(
                handler.connection.update { $0.frameTimerFired(now: context.eventLoop.now) },
                context,
                rearm: handler.scheduleFrame
            )
        }
    }

    private func carryOut(
        _ action: ConnectionStateMachine.Action,
        _ context: ChannelHandlerContext,
        rearm: (ChannelHandlerContext, NIODeadline) -> Void
    ) {
        switch action {
        case .checkAgain(let deadline):
            rearm(context, deadline)
        case .sendError(let error, let requestID, _):
            self.farewell(context, error, requestID: requestID)
        default:
            break
        }
    }

    /// Writes the ERROR and closes; the farewell may never be written (a peer that does not read, or one that
    /// never finished its TLS handshake), so the connection is closed regardless after a moment.
    private func farewell(_ context: ChannelHandlerContext, _ error: ProtocolError, requestID: UInt32) {
        guard !self.closing else { return }
        self.closing = true
        self.onError(error)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        ErrorResponse(error).frame(requestID: requestID).write(into: &buffer)
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }
}
