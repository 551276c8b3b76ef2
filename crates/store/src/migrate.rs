//! Schema migrations: embedded SQL files applied in order, tracked in `PRAGMA user_version`.

use crate::StoreError;
use crate::error::one_line;
use rusqlite::{Connection, TransactionBehavior};

/// Every migration, in order. Append only: the position (1-based) is the schema version.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial",
        include_str!("../../../sql/migrations/0001_initial.sql"),
    ),
    (
        "0002_report_key_and_sums",
        include_str!("../../../sql/migrations/0002_report_key_and_sums.sql"),
    ),
    (
        "0003_report_duplicates",
        include_str!("../../../sql/migrations/0003_report_duplicates.sql"),
    ),
    (
        "0004_source_identity",
        include_str!("../../../sql/migrations/0004_source_identity.sql"),
    ),
    (
        "0005_failure_reports",
        include_str!("../../../sql/migrations/0005_failure_reports.sql"),
    ),
    (
        "0006_tls_reports",
        include_str!("../../../sql/migrations/0006_tls_reports.sql"),
    ),
    (
        "0007_dns_checks",
        include_str!("../../../sql/migrations/0007_dns_checks.sql"),
    ),
    (
        "0008_ip_database",
        include_str!("../../../sql/migrations/0008_ip_database.sql"),
    ),
    (
        "0009_dns_coverage",
        include_str!("../../../sql/migrations/0009_dns_coverage.sql"),
    ),
    (
        "0010_rollups",
        include_str!("../../../sql/migrations/0010_rollups.sql"),
    ),
    (
        "0011_rollup_views",
        include_str!("../../../sql/migrations/0011_rollup_views.sql"),
    ),
    (
        "0012_source_weeks",
        include_str!("../../../sql/migrations/0012_source_weeks.sql"),
    ),
    (
        "0013_drop_source_weeks",
        include_str!("../../../sql/migrations/0013_drop_source_weeks.sql"),
    ),
    (
        "0014_source_identities_known",
        include_str!("../../../sql/migrations/0014_source_identities_known.sql"),
    ),
];

/// A step in Rust after a migration's SQL: what SQL alone cannot derive from the stored rows.
type Step = fn(&Connection) -> Result<(), StoreError>;

/// The step in Rust that follows the SQL of the pending migrations `pending`, in their
/// transaction, with the migration it belongs to. It runs once every pending file has, so that
/// it builds its tables as the newest schema has them; the first pending migration with a step
/// decides it (building every rollup from the records covers `domain_days` too).
fn after(pending: &[&'static str]) -> Option<(&'static str, Step)> {
    pending.iter().find_map(|&name| match name {
        "0010_rollups" => Some((name, crate::rollup::rebuild_all as Step)),
        "0012_source_weeks" => Some((
            name,
            (|connection| crate::rollup::rebuild_domain_days(connection, None)) as Step,
        )),
        _ => None,
    })
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn user_version(connection: &Connection) -> Result<u32, StoreError> {
    Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

fn too_new(found: u32) -> StoreError {
    StoreError::SchemaTooNew {
        found,
        known: SCHEMA_VERSION,
    }
}

/// Tables every version of ruadb's schema has.
const RUADB_TABLES: [&str; 5] = [
    "messages",
    "raw_inputs",
    "reports",
    "records",
    "ingest_errors",
];

/// Refuses a database that is not ruadb's, before anything is changed in it: one that holds
/// schema objects but lacks ruadb's tables or its schema version. An empty one is ruadb's to
/// set up.
pub(crate) fn check_ours(connection: &Connection) -> Result<(), StoreError> {
    let objects: i64 =
        connection.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| row.get(0))?;
    if objects == 0 {
        return Ok(());
    }
    let mut statement = connection
        .prepare("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1")?;
    for table in RUADB_TABLES {
        let found: i64 = statement.query_row([table], |row| row.get(0))?;
        if found == 0 {
            return Err(StoreError::ForeignDatabase);
        }
    }
    // ruadb sets the version in the transaction that creates its tables.
    if user_version(connection)? == 0 {
        return Err(StoreError::ForeignDatabase);
    }
    Ok(())
}

/// Applies every pending migration in one write transaction.
pub(crate) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    // Cheap check first, so that opening an up-to-date database never takes the write lock.
    let found = user_version(connection)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = user_version(&transaction)?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    let mut pending = Vec::new();
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        transaction
            .execute_batch(sql)
            .map_err(|error| StoreError::MigrationFailed {
                name,
                reason: one_line(&error),
            })?;
        pending.push(*name);
        transaction.pragma_update(None, "user_version", index as u32 + 1)?;
    }
    if let Some((name, step)) = after(&pending) {
        step(&transaction).map_err(|error| StoreError::MigrationFailed {
            name,
            reason: error.to_string(),
        })?;
    }
    transaction.commit()?;
    Ok(())
}

/// Refuses a read-only connection to a database this build cannot read as is.
pub(crate) fn check_read_only(connection: &Connection) -> Result<(), StoreError> {
    let found = user_version(connection)?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(too_new(found)),
        std::cmp::Ordering::Less => Err(StoreError::SchemaTooOld {
            found,
            known: SCHEMA_VERSION,
        }),
    }
}
