import EngageProtocol
import NIOCore
import NIOSSL

/// A request frame and the promise its response fulfils.
struct PendingRequest {
    let frame: Frame
    let promise: EventLoopPromise<Response>
}

/// Matches responses to requests by request id (responses may come in any order), and fails every
/// request still waiting when the connection closes.
final class ResponseRouter: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = Frame

    private var waiting: [UInt32: EventLoopPromise<Response>] = [:]
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
        let response: Response
        do {
            response = try Response.decode(frame)
        } catch {
            self.failAll(EngageClientError.unexpectedResponse("\(error)"))
            context.close(promise: nil)
            return
        }
        if let promise = self.waiting.removeValue(forKey: frame.requestID) {
            promise.succeed(response)
        } else if case .error(let error) = response {
            // An error about the connection itself (request id 0): everything waiting fails with it.
            self.failAll(EngageClientError.server(error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(EngageClientError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as NIOSSLError: self.failAll(EngageClientError.tls("\(error)"))
        case let error as BoringSSLError: self.failAll(EngageClientError.tls("\(error)"))
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
