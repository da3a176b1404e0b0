"""The embedded storage: SQLite files in the data directory, one per store."""
