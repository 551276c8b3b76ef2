//! Why a store operation failed.

use std::path::PathBuf;

/// A database failure. Bad *input* is never a `StoreError`: it is reported in
/// [`crate::MessageOutcome`] and recorded in `ingest_errors`.
///
/// Each message is one line that says what is wrong and, where there is one, what to do.
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
    /// The directory for a new database could not be created.
    #[error("cannot create the directory {path}: {source}")]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a SQLite database (or is encrypted or damaged in its header).
    #[error("the file is not a SQLite database")]
    NotADatabase,
    /// The file is a SQLite database of another program: ruadb refuses it before changing
    /// anything.
    #[error(
        "it is not a ruadb database (it holds other tables); it was left unchanged: choose another database file"
    )]
    ForeignDatabase,
    /// The database was written by a newer ruadb.
    #[error(
        "the database has schema version {found}, but this ruadb only knows up to {known}; upgrade ruadb"
    )]
    SchemaTooNew {
        /// The database's schema version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The database has an older schema and was opened read-only, so it cannot be upgraded.
    #[error(
        "the database has schema version {found}, older than this ruadb's {known}; run `ruadb ingest` once to upgrade it"
    )]
    SchemaTooOld {
        /// The database's schema version.
        found: u32,
        /// The version this build reads.
        known: u32,
    },
    /// Applying a migration failed; the database is left as it was.
    #[error("upgrading the database schema ({name}) failed: {reason}")]
    MigrationFailed {
        /// The migration, e.g. `0003_report_duplicates`.
        name: &'static str,
        /// SQLite's message (without the migration's SQL).
        reason: String,
    },
    /// The database cannot use write-ahead logging, which ruadb needs so that readers can
    /// run while it writes (e.g. a file system without shared memory support).
    #[error("cannot switch the database to WAL mode (SQLite kept journal mode {0})")]
    WalUnavailable(String),
    /// A rollup row's stored sets cannot be read (the database was damaged or edited).
    #[error("a stored rollup (table source_days) is damaged; run `ruadb reparse` to rebuild it")]
    DamagedRollup,
    /// A stored input cannot be read back for `reparse` (damaged raw data).
    #[error("the stored bytes of message {message_id} cannot be read back: {reason}")]
    RawInputUnreadable {
        /// The `messages.id`.
        message_id: i64,
        /// Why.
        reason: String,
    },
    /// Compressing an input for storage failed.
    #[error("cannot compress an input for storage: {0}")]
    Compression(String),
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
    #[error("database error: {}", one_line(.0))]
    Sqlite(rusqlite::Error),
    /// Writing what a query returned failed (the caller's writer gave up).
    #[error("cannot write the result: {0}")]
    Io(std::io::Error),
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
            ErrorCode::ReadOnly => StoreError::ReadOnly(one_line(&error)),
            ErrorCode::DiskFull => StoreError::DiskFull(one_line(&error)),
            ErrorCode::NotADatabase => StoreError::NotADatabase,
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

/// SQLite's message for `error` on one line: without the SQL text that some errors carry
/// (a failing migration's is hundreds of lines).
pub(crate) fn one_line(error: &rusqlite::Error) -> String {
    let text = match error {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
