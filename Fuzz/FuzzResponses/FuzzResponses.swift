import EngageModel
import EngageProtocol
import FuzzSupport
import NIOCore

/// libFuzzer target: every response decoder (what a client reads from a server it cannot trust), plus the
/// JSON-object check and the ISO 8601 parser, which see untrusted text too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponses(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let rest = UnsafeBufferPointer(rebasing: bytes[1...])
    _ = JSONSyntax.isObject(UnsafeRawBufferPointer(rest))
    _ = Timestamp.parseISO8601(String(decoding: rest, as: UTF8.self))
    let types = MessageType.allCases.filter { $0.rawValue >= 0x80 }
    let type = types[Int(first) % types.count]
    let frame = Frame(type: type.rawValue, requestID: 7, payload: ByteBuffer(bytes: rest))
    guard let response = try? Response.decode(frame) else { return 0 }
    let again = try? Response.decode(response.encode(requestID: 7))
    precondition(again == response, "re-encoding \(type) changed the message")
    return 0
}

@_cdecl("FuzzResponses_main")
public func entryPoint(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzResponses)
}
