import EngageProtocol
import NIOCore
import NIOSSL

/// A request frame and the promise its response frame fulfils.
struct PendingRequest {
    let frame: Frame
    let promise: EventLoopPromise<Frame>
}

/// Matches responses to requests by request id (responses may come in any order), and fails every
/// request still waiting when the connection closes.
final class ResponseRouter: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = Frame

    private var waiting: [UInt32: EventLoopPromise<Frame>] = [:]
    private var closedError: (any Error)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if let closedError {
            request.promise.fail(closedError)
            promise?.fail(closedError)
            return
        }
        self.waiting[request.frame.requestID] = request.promise
        context.write(self.wrapOutboundOut(request.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        if let promise = self.waiting.removeValue(forKey: frame.requestID) {
            // Decoded by the caller, as the type its request names.
            promise.succeed(frame)
        } else if frame.type == MessageType.error.rawValue {
            // An error about the connection itself (request id 0): everything waiting fails with it.
            switch Result(catching: { () throws(ProtocolError) -> ErrorResponse in try ErrorResponse.decode(frame) }) {
            case .success(let error): self.failAll(EngageClientError.server(error.error))
            case .failure(let error):
                self.failAll(
                    EngageClientError(
                        .notAnEngageServer,
                        "the server sent an ERROR that cannot be read: \(error.message)"
                    )
                )
            }
            context.close(promise: nil)
        } else {
            self.failAll(EngageClientError.unexpected("a response to request \(frame.requestID), which is not waiting"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(EngageClientError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as NIOSSLError: self.failAll(EngageClientError(.tls, "TLS failed: \(error)", underlying: error))
        case let error as BoringSSLError:
            self.failAll(EngageClientError(.tls, "TLS failed: \(error)", underlying: error))
        case let error as EngageClientError: self.failAll(error)
        case let error as ProtocolError:
            // The frame decoder refused what arrived (a length no engaged sends): not our protocol.
            self.failAll(
                EngageClientError(
                    .notAnEngageServer,
                    "the server sent bytes that are not Engage frames (\(error.message))",
                    underlying: error
                )
            )
        default: self.failAll(error)
        }
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        if self.closedError == nil { self.closedError = error }
        let waiting = self.waiting
        self.waiting = [:]
        for promise in waiting.values { promise.fail(error) }
    }
}

/// First handler of a plain (not TLS) connection: looks at the first bytes the server sends. A TLS server
/// answers a plain HELLO with a TLS alert record (`15 03 0x`), which would otherwise read as a 350 MB frame
/// length; say what it is instead. Removes itself after the first read.
final class PlaintextPeerCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self),
            first == 0x15 || first == 0x16, second == 0x03
        {
            context.fireErrorCaught(
                EngageClientError(
                    .notAnEngageServer,
                    "it answered with TLS, so it only accepts TLS clients (connect with --tls, and --tls-ca if its certificate is not from a public authority)"
                )
            )
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
