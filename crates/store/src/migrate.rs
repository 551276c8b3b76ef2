//! Schema migrations: embedded SQL files applied in order, tracked in `PRAGMA user_version`.

use crate::StoreError;
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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn user_version(connection: &Connection) -> Result<u32, StoreError> {
    Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

fn too_new(found: u32) -> StoreError {
    StoreError::Migration(format!(
        "the database has schema version {found}, but this ruadb only knows up to \
         {SCHEMA_VERSION}; upgrade ruadb"
    ))
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
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        transaction
            .execute_batch(sql)
            .map_err(|error| StoreError::Migration(format!("migration {name} failed: {error}")))?;
        transaction.pragma_update(None, "user_version", index as u32 + 1)?;
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
        std::cmp::Ordering::Less => Err(StoreError::Migration(format!(
            "the database has schema version {found}, older than this ruadb's \
             {SCHEMA_VERSION}; run `ruadb ingest` once to upgrade it"
        ))),
    }
}
