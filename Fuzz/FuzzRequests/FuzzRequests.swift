import EngageModel
import EngageProtocol
import FuzzSupport
import NIOCore

/// libFuzzer target: every request decoder (the first input byte picks the message type, the rest is the
/// payload), the ingest batch's resolution, and re-encoding what decoded: decode(encode(x)) must equal x.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let types = MessageType.allCases.filter { $0.rawValue < 0x80 }
    let type = types[Int(first) % types.count]
    let frame = Frame(
        type: type.rawValue,
        requestID: 7,
        payload: ByteBuffer(bytes: UnsafeBufferPointer(rebasing: bytes[1...]))
    )
    let request: Request
    do {
        request = try Request.decode(frame)
    } catch {
        return 0
    }
    if case .command(.ingestEvents(let message)) = request {
        let batch = message.batch
        let resolved = batch.resolve()
        precondition(resolved.events.count + resolved.rejected.count == batch.events.count)
        for event in resolved.events { _ = EventValidation.rejection(of: event, nowMs: 1_800_000_000_000) }
    }
    let again = try? Request.decode(request.encode(requestID: 7))
    precondition(again == request, "re-encoding \(type) changed the message")
    return 0
}

@_cdecl("FuzzRequests_main")
public func entryPoint(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzRequests)
}
