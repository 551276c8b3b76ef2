//! Why a store operation failed.

use std::path::PathBuf;

/// A database failure. Bad *input* is never a `StoreError`: it is reported in
/// [`crate::MessageOutcome`] and recorded in `ingest_errors`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the write lock past the busy timeout.
    #[error("another ruadb is writing to the database; try again or use --wait")]
    Busy,
    /// The database file, its directory or the file system is read-only.
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    /// The disk (or a quota) is full.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    /// The database to read does not exist.
    #[error("no database at {0}; run `ruadb ingest` first")]
    NotFound(PathBuf),
    /// The schema is newer than this build, or older and the connection is read-only.
    #[error("{0}")]
    Migration(String),
    /// A statement that would write was given where only reading is allowed.
    #[error("only read-only SQL is allowed here (SELECT, WITH, read-only PRAGMA)")]
    NotReadOnly,
    /// The SQL text holds no statement (it is empty, or only comments and `;`).
    #[error("no SQL statement given (the text is empty or only comments)")]
    EmptyStatement,
    /// A read-only statement went past one of the limits of [`crate::Store::open_for_queries`].
    #[error(
        "the statement goes past the limits for queries (values up to {value_mib} MiB, {heap_mib} MiB of SQLite memory): {0}",
        value_mib = crate::QUERY_VALUE_BYTES >> 20,
        heap_mib = crate::QUERY_HEAP_BYTES >> 20
    )]
    QueryLimit(String),
    /// A rebuild would have left rows referring to rows that do not exist (a bug: the
    /// transaction is rolled back).
    #[error(
        "reparse would leave {0} rows referring to rows that do not exist; nothing was changed"
    )]
    DanglingReferences(i64),
    /// A database error stopped an input half-way through a batch, so the batch was not
    /// committed.
    #[error("an input failed to store half-way; nothing in this batch was committed")]
    BatchBroken,
    /// The parser thread stopped while inputs were waiting for it (a bug).
    #[error("the parser thread stopped unexpectedly; nothing in this batch was committed")]
    ParserThreadLost,
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// Reading an input or creating the database directory failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let code = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => failure.code,
            _ => return StoreError::Sqlite(error),
        };
        match code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy,
            ErrorCode::ReadOnly => StoreError::ReadOnly(error.to_string()),
            ErrorCode::DiskFull => StoreError::DiskFull(error.to_string()),
            _ => StoreError::Sqlite(error),
        }
    }
}

impl StoreError {
    /// Whether waiting and retrying could succeed.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy)
    }
}
