import EngageStore

extension EngageStore {
    /// Opens a store and runs its writer in a task of its own, as a service group would; ``EngageStore/close()``
    /// stops it.
    public static func running(configuration: StoreConfiguration) throws -> EngageStore {
        let store = try EngageStore(configuration: configuration)
        Task { try await store.run() }
        return store
    }
}
