//! SQLite store of DMARC aggregate reports.
//!
//! Reports stream in from [`ruadb_report`] and are written as they arrive, with DMARC
//! alignment recomputed per record ([`alignment`]). The database is plain SQLite with stable
//! views (`record_outcomes`, `source_daily`, `reporter_daily`, …) documented in the README.
//!
//! # Layout
//! - `migrate`: the embedded migrations from `sql/migrations/`, tracked in `PRAGMA user_version`.
//! - `ingest`: [`Batch`] (one transaction; [`Batch::ingest`] stores many inputs, parsing the
//!   next ones on parser threads, and hands back their outcomes in input order), the storing
//!   `Sink`, the row inserts and `reparse`.
//! - [`alignment`]: RFC 7489 section 3.1 identifier alignment with the Public Suffix List.
//! - `content_hash`: what makes two reports with the same key duplicates rather than a conflict.
//! - `raw`: the original input bytes, compressed in chunks, for `reparse`.
//! - `query`: reading. `query/read.rs` is the typed, streaming read API ([`Store::read_reports`]
//!   yielding [`ReportRow`]s and [`RecordRow`]s) that `ruadb-summary` and `query/sources.rs`
//!   ([`Store::sources`]) consume; `query/mod.rs` runs read-only SQL and counts totals.
//! - `sql_value`: the report enums as SQL values, and reading columns by name.
//! - `identity`: who each source is ([`Store::identify_from_reports`],
//!   [`Store::source_identities`]), the `source_identities` table.
//! - [`classify`]: the one rule naming a source's class, for `sources` and the summary.
//! - `worker`: the pool of parser threads that lets parsing use every core while the batch
//!   thread writes SQLite.
//!
//! # Invariants
//! - Ingest is idempotent: the same bytes are a no-op, the same report is stored once.
//! - An input is stored whole or not at all.
//! - No clock reads: times are passed in ([`StoreOptions::now`]).
//!
//! # Example
//! ```
//! use ruadb_store::{MessageSource, Store, StoreOptions};
//! let mut store = Store::open_in_memory(StoreOptions::default())?;
//! let xml = br#"<feedback><report_metadata><org_name>example.net</org_name>
//!   <email>dmarc@example.net</email><report_id>42</report_id>
//!   <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
//!   <policy_published><domain>example.com</domain><p>none</p></policy_published>
//!   <record><row><source_ip>192.0.2.1</source_ip><count>3</count>
//!   <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
//!   <identifiers><header_from>example.com</header_from></identifiers>
//!   <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results></record></feedback>"#;
//! let mut batch = store.begin_batch()?;
//! let outcome = batch.ingest_bytes(xml, &MessageSource::Stdin)?;
//! batch.commit()?;
//! assert_eq!((outcome.reports_new, outcome.records), (1, 1));
//! assert_eq!(store.totals()?.message_count, 3);
//! # Ok::<(), ruadb_store::StoreError>(())
//! ```

pub mod alignment;
mod checkpoint;
pub mod classify;
mod content_hash;
mod digest;
mod dns_checks;
mod error;
mod identity;
mod ingest;
mod migrate;
mod query;
mod raw;
mod rollup;
mod sorted_set;
mod sql_value;
mod worker;

use checkpoint::{Checkpointer, WalLimits};
use ruadb_report::DomainName;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

pub use dns_checks::{DnsCheckRow, DnsCheckTarget, StoredFinding, StoredSource};
pub use error::StoreError;
pub use identity::{DnsCachePolicy, NetworkLookup, OfflineTally, ReverseDns, SourceIdentity};
pub use ingest::{
    Batch, Identifier, ImapCursor, IngestTally, Input, InputFailure, MessageOutcome, MessageSource,
    StoredReports,
};
pub use migrate::SCHEMA_VERSION;
pub use query::{
    DayFilter, DispositionCounts, DkimRow, DomainDayRow, FailureSampleRow, PublishedPolicy,
    QUERY_HEAP_BYTES, QUERY_SQL_BYTES, QUERY_VALUE_BYTES, QueryRow, RecordRow, ReportFilter,
    ReportRow, ReportVisitor, ReporterDayRow, ResultsWanted, Snapshot, SourceDayRow, SourceFilter,
    SourceRow, SourceTable, SourceView, SpfRow, TlsFailureRow, TlsPolicyRow, Totals, Value,
};
pub use rollup::{NameSets, report_midpoint};
pub use sorted_set::SortedSet;
pub use worker::MAX_PARSE_THREADS;

/// How a [`Store`] behaves.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Policy domains accepted (a listed domain also accepts its subdomains); `None` accepts
    /// every domain. Reports for other domains are counted in `rejected_reports`, not stored.
    pub domains: Option<Vec<DomainName>>,
    /// Parser limits.
    pub limits: ruadb_report::Limits,
    /// How long to wait for another writer before failing with [`StoreError::Busy`]
    /// (default 5 s).
    pub busy_timeout: Duration,
    /// The time (unix seconds) stamped on newly stored messages as `ingested_at`; the library
    /// never reads the clock, so `None` (the default) stores NULL.
    pub now: Option<i64>,
    /// What of a DMARC failure report is stored beyond domains (by default neither whole
    /// addresses nor the subject).
    pub failure_privacy: ruadb_report::FailurePrivacy,
    /// Threads parsing the inputs of a [`Batch`] while it writes (outcomes stay in input
    /// order whatever the number): `None` (the default) starts one per core
    /// (`std::thread::available_parallelism`); at most [`MAX_PARSE_THREADS`] either way.
    pub parse_threads: Option<std::num::NonZeroUsize>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            domains: None,
            limits: ruadb_report::Limits::default(),
            busy_timeout: Duration::from_secs(5),
            now: None,
            failure_privacy: ruadb_report::FailurePrivacy::default(),
            parse_threads: None,
        }
    }
}

/// A connection to a ruadb database.
pub struct Store {
    /// Declared before `connection` so that it closes first: the writer, closing last,
    /// copies back what is left of the WAL and removes it.
    checkpoints: Checkpoints,
    connection: Connection,
    options: StoreOptions,
}

/// Who checkpoints the WAL of a store.
enum Checkpoints {
    /// The writer, as SQLite does by default (`wal_autocheckpoint`): until the first batch of
    /// a store on a file, and always in memory or when the thread could not start.
    Writer {
        /// Whether to start a [`Checkpointer`] with the first batch (a store on a file).
        start: Option<WalLimits>,
    },
    /// The checkpoint thread (`checkpoint.rs`).
    Thread(Checkpointer),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.connection.path())
            .field("options", &self.options)
            .finish()
    }
}

/// SQLite page cache per connection, in KiB (negative `cache_size` means KiB). 8 MiB: at 16 MiB
/// the hostile batch peaked at 66-67 MiB on a quiet machine, at 8 MiB 51 MiB. Large enough
/// for the working set of one batch's indexes, small enough for the 64 MiB memory budget.
const CACHE_KIB: i64 = 8 * 1024;

/// WAL pages after which a commit copies the WAL back into the database (SQLite's default is
/// 1,000), until a batch starts the checkpoint thread (`checkpoint.rs`), which then copies it
/// instead. An ingest commits every few megabytes; checkpointing after each commit rewrote the
/// same tail pages of every table over and over. The WAL is checkpointed and removed when the
/// last connection closes.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

impl Store {
    /// Opens the database at `path` for reading and writing, creating it (and its directory)
    /// if missing, and applies pending migrations.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDirectory {
                path: parent.to_owned(),
                source,
            })?;
        }
        let connection = Connection::open(path)?;
        Store::set_up(connection, options, true)
    }

    /// Opens a private in-memory database (tests, dry runs).
    pub fn open_in_memory(options: StoreOptions) -> Result<Store, StoreError> {
        Store::set_up(Connection::open_in_memory()?, options, false)
    }

    /// Opens an existing database read-only (for `ruadb sql`, `sources`, `summary`).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotFound(path.to_owned()));
        }
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let options = StoreOptions::default();
        connection.busy_timeout(options.busy_timeout)?;
        connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
        migrate::check_ours(&connection)?;
        migrate::check_read_only(&connection)?;
        Ok(Store {
            checkpoints: Checkpoints::Writer { start: None },
            connection,
            options,
        })
    }

    /// Opens an existing database read-only for statements written by the user (`ruadb sql`):
    /// besides refusing writes, SQLite's own limits keep any one statement within the memory
    /// budget — values of at most [`QUERY_VALUE_BYTES`], statements of at most
    /// [`QUERY_SQL_BYTES`], and at most [`QUERY_HEAP_BYTES`] of SQLite memory. A statement
    /// that goes past one fails with [`StoreError::QueryLimit`].
    ///
    /// The heap limit is SQLite's, and SQLite has one heap per process: it also holds for
    /// every other connection the process opens, so open this only in a process that does
    /// nothing else with SQLite.
    pub fn open_for_queries(path: &Path) -> Result<Store, StoreError> {
        let store = Store::open_read_only(path)?;
        query::limit_connection(&store.connection)?;
        Ok(store)
    }

    fn set_up(
        mut connection: Connection,
        options: StoreOptions,
        wal: bool,
    ) -> Result<Store, StoreError> {
        connection.busy_timeout(options.busy_timeout)?;
        // Before anything below changes the file.
        migrate::check_ours(&connection)?;
        if wal {
            // WAL lets readers (`ruadb sql`) run while an ingest writes.
            let mode: String =
                connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::WalUnavailable(mode));
            }
        }
        // NORMAL is durable across application crashes in WAL mode; only an OS crash or power
        // loss may lose the last transactions (never corrupt the database). temp_store=MEMORY
        // keeps the savepoint journal (one per message) off the disk: it holds only the pages
        // one message touched.
        //
        // Foreign keys stay declared (they document the schema, and any client can check them
        // with `PRAGMA foreign_key_check`) but are not enforced on this connection: ingest
        // writes parents before children and deletes children first by construction (tests
        // check the references after ingest, failures, duplicates and reparse, and reparse
        // checks them before it commits). Enforcing them costs a parent lookup and statement
        // journal pages per inserted row: 6% of ingest wall time on the 10,000-report
        // benchmark (median of 12 interleaved runs each, 2.63 s against 2.44 s).
        connection.execute_batch(&format!(
            "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
        ))?;
        connection.set_prepared_statement_cache_capacity(64);
        migrate::migrate(&mut connection)?;
        Ok(Store {
            checkpoints: Checkpoints::Writer {
                start: wal.then(WalLimits::default),
            },
            connection,
            options,
        })
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }
}
