//! WAL checkpoints on a thread of their own, so that the batch thread only writes.
//!
//! By default SQLite copies the WAL back into the database file (a checkpoint) on the
//! connection that commits, once the WAL has passed `wal_autocheckpoint` pages: during an
//! ingest that is the batch thread, the one the whole pipeline waits for. Once a store on a
//! file begins its first batch, it turns that off and starts a [`Checkpointer`]: a thread
//! with its own connection, told after each batch's commit, that runs passive checkpoints
//! (which never block the writer) while the next batch is written.
//!
//! A passive checkpoint cannot make SQLite start the WAL over: only a writer that begins
//! while every frame of the WAL is copied back does. So when the WAL has reached
//! [`WalLimits::restart`] frames, [`Checkpointer::before_batch`] lets the checkpointer finish
//! (most of its work was done while the batch before was written), copies whatever is left
//! itself, and the batch that begins then writes the WAL from its start again: the WAL stays
//! below that size plus one batch. The last connection to close copies the rest and removes
//! the WAL, as without this thread.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// When the checkpointer copies and when the WAL is made to start over, in WAL frames (one
/// page each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalLimits {
    /// After a commit, the checkpointer copies the WAL back once it holds this many frames:
    /// early enough that little is left when it is to start over, late enough that the tail
    /// pages every batch rewrites are not copied after each small batch.
    pub(crate) copy: i64,
    /// A batch begins with the WAL copied back whole (waiting for the checkpointer if need
    /// be) once it holds this many frames, so that SQLite writes it from its start again.
    /// 8,192 is where the batch thread used to checkpoint (`wal_autocheckpoint`), 32 MiB with
    /// 4 KiB pages.
    pub(crate) restart: i64,
}

impl Default for WalLimits {
    fn default() -> Self {
        WalLimits {
            copy: 2048,
            restart: 8192,
        }
    }
}

/// What the batch thread and the checkpointer share.
#[derive(Default)]
struct State {
    /// A batch committed since the checkpointer last looked.
    committed: bool,
    /// The checkpointer is copying.
    copying: bool,
    /// The store is closing: the thread ends.
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> Option<MutexGuard<'_, State>> {
        self.state.lock().ok()
    }
}

/// The checkpoint thread of a store on a file, with its own connection.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    limits: WalLimits,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to the database at `path` and starts the thread; `None` if
    /// either fails (the writer then checkpoints as SQLite does by default).
    pub(crate) fn start(path: &Path, limits: WalLimits) -> Option<Checkpointer> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        // It only copies pages: no cache to speak of. NORMAL as on the writer (a checkpoint
        // syncs the WAL before it copies and the database after, in either mode).
        connection
            .execute_batch("PRAGMA cache_size = 16; PRAGMA synchronous = NORMAL;")
            .ok()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("ruadb-checkpoint".to_owned())
            .spawn(move || run(&connection, &thread_shared, limits.copy))
            .ok()?;
        Some(Checkpointer {
            shared,
            limits,
            handle: Some(handle),
        })
    }

    /// A batch committed: the checkpointer looks at the WAL (and copies it back if it is
    /// long enough) while the next one is written.
    pub(crate) fn committed(&self) {
        if let Some(mut state) = self.shared.lock() {
            state.committed = true;
            self.shared.changed.notify_one();
        }
    }

    /// Before a batch begins on `writer` (outside any transaction): once the WAL holds
    /// [`WalLimits::restart`] frames, waits for the checkpointer and copies back whatever it
    /// left, so that the batch writes the WAL from its start.
    pub(crate) fn before_batch(&self, writer: &Connection) -> Result<(), StoreError> {
        let (frames, copied) = wal_frames(writer, LOOK)?;
        if frames < self.limits.restart || copied >= frames {
            return Ok(());
        }
        self.wait_idle();
        // Usually nothing is left; a reader on an old snapshot may still keep frames from
        // being copied, as it would from SQLite's own checkpoint.
        let (frames, copied) = wal_frames(writer, LOOK)?;
        if copied < frames {
            wal_frames(writer, COPY)?;
        }
        Ok(())
    }

    /// Waits until the checkpointer has looked at every commit it was told of.
    fn wait_idle(&self) {
        let Some(mut state) = self.shared.lock() else {
            return;
        };
        while (state.committed || state.copying) && !state.stop {
            state = match self.shared.changed.wait(state) {
                Ok(state) => state,
                Err(_) => return,
            };
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(mut state) = self.shared.lock() {
            state.stop = true;
            self.shared.changed.notify_all();
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The checkpointer's loop: after each commit, copies the WAL back if it holds `copy`
/// frames or more and some are not copied yet.
fn run(connection: &Connection, shared: &Shared, copy: i64) {
    loop {
        let Some(mut state) = shared.lock() else {
            return;
        };
        while !state.committed && !state.stop {
            state = match shared.changed.wait(state) {
                Ok(state) => state,
                Err(_) => return,
            };
        }
        if state.stop {
            return;
        }
        state.committed = false;
        state.copying = true;
        drop(state);
        // A failure (another process checkpointing, a full disk) leaves the frames where
        // they are: the next commit tries again, and the batch thread copies them itself
        // before the WAL must start over.
        if let Ok((frames, copied)) = wal_frames(connection, LOOK)
            && frames >= copy
            && copied < frames
        {
            let _ = wal_frames(connection, COPY);
        }
        let Some(mut state) = shared.lock() else {
            return;
        };
        state.copying = false;
        shared.changed.notify_all();
    }
}

/// Reads where the WAL stands, copying nothing (SQLite 3.51).
const LOOK: &str = "PRAGMA wal_checkpoint(NOOP)";

/// Copies back what it can without waiting for the writer or readers.
const COPY: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// Runs `sql` ([`LOOK`] or [`COPY`]) and returns the frames in the WAL and how many of them
/// are copied back (after the copy).
fn wal_frames(connection: &Connection, sql: &str) -> Result<(i64, i64), StoreError> {
    Ok(connection
        .prepare_cached(sql)?
        .query_row([], |row| Ok((row.get(1)?, row.get(2)?)))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checkpoints, Input, MessageSource, Store, StoreOptions};

    /// A report of `records` records from distinct addresses.
    fn report(id: usize, records: usize) -> Vec<u8> {
        let mut xml = format!(
            "<feedback><report_metadata><org_name>example.net</org_name>
             <email>dmarc@example.net</email><report_id>{id}</report_id>
             <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
             </report_metadata><policy_published><domain>example.com</domain><p>none</p>
             </policy_published>"
        );
        for record in 0..records {
            let n = id * records + record;
            xml.push_str(&format!(
                "<record><row><source_ip>10.{}.{}.{}</source_ip><count>1</count>
                 <policy_evaluated><disposition>none</disposition><dkim>pass</dkim>
                 <spf>fail</spf></policy_evaluated></row><identifiers>
                 <header_from>example.com</header_from></identifiers><auth_results><dkim>
                 <domain>example.com</domain><result>pass</result></dkim></auth_results>
                 </record>",
                n >> 16 & 255,
                n >> 8 & 255,
                n & 255
            ));
        }
        xml.push_str("</feedback>");
        xml.into_bytes()
    }

    fn wal_bytes(path: &Path) -> u64 {
        std::fs::metadata(path.with_extension("sqlite-wal")).map_or(0, |meta| meta.len())
    }

    /// The writer leaves checkpoints to the thread, and the WAL still starts over: without
    /// the copy before a batch it would grow with every batch (nothing else checkpoints).
    /// The last connection to close removes it.
    #[test]
    fn the_checkpoint_thread_copies_the_wal_back_and_keeps_it_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        let limits = WalLimits {
            copy: 16,
            restart: 64,
        };
        store.checkpoints = Checkpoints::Writer {
            start: Some(limits),
        };
        let mut first_batch = 0;
        let mut largest_wal = 0;
        for batch_number in 0..30 {
            let mut batch = store.begin_batch().unwrap();
            let inputs = (0..20).map(|n| {
                let id = batch_number * 20 + n;
                ((), MessageSource::Stdin, Input::Bytes(report(id, 20)))
            });
            for ((), outcome) in batch.ingest(inputs) {
                assert_eq!(outcome.unwrap().records, 20);
            }
            batch.commit().unwrap();
            if batch_number == 0 {
                first_batch = wal_frames(&store.connection, LOOK).unwrap().0;
            }
            largest_wal = largest_wal.max(wal_bytes(&path));
        }
        let Checkpoints::Thread(checkpointer) = &store.checkpoints else {
            panic!("no checkpoint thread");
        };
        checkpointer.wait_idle();
        let (frames, copied) = wal_frames(&store.connection, LOOK).unwrap();
        assert!(
            frames >= limits.copy && copied == frames,
            "{copied} of {frames}"
        );
        let autocheckpoint: i64 = store
            .connection
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap();
        assert_eq!(autocheckpoint, 0);
        // Batches alike: at most the limit and a batch (the first, which also created the
        // tables' first pages, is the largest), with room to spare.
        let frame_bytes = 4096 + 24;
        let bound = 32 + (limits.restart + 2 * first_batch) as u64 * frame_bytes;
        assert!(
            30 * first_batch as u64 * frame_bytes > 4 * bound && largest_wal <= bound,
            "WAL up to {largest_wal} bytes (bound {bound}), {first_batch} frames a batch"
        );
        assert_eq!(store.totals().unwrap().message_count, 30 * 20 * 20);
        drop(store);
        assert!(!path.with_extension("sqlite-wal").exists());
    }
}
