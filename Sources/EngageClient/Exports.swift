// The domain values of the API (Event, ActivityQuery, CivilDate, rows...) come with `import EngageClient`.
@_exported import EngageModel
