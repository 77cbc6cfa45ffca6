import EngageProtocol
import NIOConcurrencyHelpers
import NIOCore

/// First handler of every connection: watches frame boundaries in the raw byte stream and enforces the two
/// timeouts. A frame begun and not finished within `frameTimeout`, while the server owes the connection
/// nothing, is a slow client (a half-sent frame must not hold a connection forever); no complete frame for
/// `idleTimeout`, with nothing in flight, is idle.
/// Either way the client gets an ERROR frame (request id 0) and the connection closes.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let control: ConnectionControl
    private let idleTimeout: TimeAmount
    private let frameTimeout: TimeAmount
    private var headerBytes: [UInt8] = []
    /// Bytes still to come in the current frame (after its length field).
    private var remaining = 0
    private var idleTimer: Scheduled<Void>?
    private var lastFrameAt = NIODeadline.now()
    private var frameTimer: Scheduled<Void>?
    private var closing = false

    init(control: ConnectionControl, idleTimeout: TimeAmount, frameTimeout: TimeAmount) {
        self.control = control
        self.idleTimeout = idleTimeout
        self.frameTimeout = frameTimeout
        self.headerBytes.reserveCapacity(4)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.armIdle(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armIdle(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.frameTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if self.remaining == 0 {
                if self.headerBytes.isEmpty { self.armFrame(context) }
                let take = min(4 - self.headerBytes.count, view.count)
                self.headerBytes.append(contentsOf: view.prefix(take))
                view = view.dropFirst(take)
                if self.headerBytes.count == 4 {
                    let length = self.headerBytes.reduce(0) { $0 << 8 | Int($1) }
                    self.headerBytes.removeAll(keepingCapacity: true)
                    self.remaining = length
                    // A length the decoder refuses ends the connection there; nothing more to watch.
                    if length == 0 { self.frameCompleted(context) }
                }
            } else {
                let take = min(self.remaining, view.count)
                view = view.dropFirst(take)
                self.remaining -= take
                if self.remaining == 0 { self.frameCompleted(context) }
            }
        }
        context.fireChannelRead(data)
    }

    private func frameCompleted(_ context: ChannelHandlerContext) {
        self.control.frameArrived()
        self.frameTimer?.cancel()
        self.frameTimer = nil
        self.armIdle(context)
    }

    private func armFrame(_ context: ChannelHandlerContext) {
        guard self.frameTimer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.frameTimer = context.eventLoop.scheduleTask(in: self.frameTimeout) {
            let (handler, context) = loopBound.value
            handler.frameTimer = nil
            if handler.control.isBusy {
                // The server owes this client answers and may have stopped reading it (back-pressure): the
                // rest of the frame can be waiting in our own socket buffer. Not the client's slowness.
                handler.armFrame(context)
            } else {
                handler.fail(
                    context,
                    ProtocolError(
                        .slowClient,
                        "a frame was begun but not completed within \(handler.frameTimeout.seconds) s"
                    )
                )
            }
        }
    }

    private func armIdle(_ context: ChannelHandlerContext) {
        self.lastFrameAt = .now()
        self.scheduleIdleCheck(context, in: self.idleTimeout)
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        self.idleTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.idleTimer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = loopBound.value
            // Waiting for our own answers is not idleness, nor is the time the server took to give them.
            let idleSince = max(handler.lastFrameAt, handler.control.settledAt)
            let deadline = idleSince + handler.idleTimeout
            if handler.control.isBusy || handler.frameTimer != nil {
                handler.scheduleIdleCheck(context, in: handler.idleTimeout)
            } else if deadline > .now() {
                handler.scheduleIdleCheck(context, in: deadline - .now())
            } else {
                handler.fail(
                    context,
                    ProtocolError(.idleTimeout, "nothing received for \(handler.idleTimeout.seconds) s")
                )
            }
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: ProtocolError) {
        guard !self.closing else { return }
        self.closing = true
        var buffer = context.channel.allocator.buffer(capacity: 64)
        Response.error(error).encode(requestID: 0).write(into: &buffer)
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
        // The farewell may never be written (a peer that does not read, or one that never finished its TLS
        // handshake): close regardless after a moment.
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }
}

extension TimeAmount {
    var seconds: String {
        let value = Double(self.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
