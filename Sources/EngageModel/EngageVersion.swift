/// Engage's release, shown by `--version` and in HELLO_OK's server name.
public enum EngageVersion {
    public static let current = "0.2.0"
}
