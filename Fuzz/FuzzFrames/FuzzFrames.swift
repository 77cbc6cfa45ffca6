import EngageProtocol
import FuzzSupport
import NIOCore

/// libFuzzer target: the frame decoder on arbitrary byte streams, fed in the pieces the first input byte
/// chooses. It must only ever return frames or throw ProtocolError, never crash or loop.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let piece = Int(first % 17) + 1
    var decoder = FrameDecoder(maximumLength: 1 << 16)
    var buffer = ByteBuffer()
    var offset = 1
    do {
        while offset < bytes.count {
            let end = min(offset + piece, bytes.count)
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while let frame = try decoder.decode(buffer: &buffer) {
                precondition(frame.payload.readableBytes <= 1 << 16)
            }
        }
    } catch is ProtocolError {
        return 0
    } catch {
        fatalError("unexpected error \(error)")
    }
    return 0
}

@_cdecl("FuzzFrames_main")
public func entryPoint(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzFrames)
}
