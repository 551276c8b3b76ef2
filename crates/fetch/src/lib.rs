//! IMAP access to the mailbox that receives `rua=` reports.
//!
//! This crate knows nothing of XML or SQL. It connects (implicit TLS or STARTTLS, certificates
//! verified, optional private CA, timeouts on every socket operation), selects a mailbox, lists
//! UIDs above a cursor, fetches raw messages with `BODY.PEEK[]` (so nothing is marked read), and
//! applies keep / seen / move / delete to the UIDs the caller says are safely stored.
//!
//! ```no_run
//! use ruadb_fetch::{Config, PostAction, Secret, Session};
//!
//! let config = Config::new("imap.example.com", "dmarc@example.com", Secret::new("…"));
//! let mut session = Session::connect(&config)?;
//! let state = session.select(&config.mailbox)?;
//! let uids = session.uids_after(0)?;
//! for chunk in uids.chunks(config.batch_size) {
//!     let fetched = session.fetch(chunk)?;
//!     // … store `fetched.messages()` and commit, then:
//!     session.apply(&PostAction::Seen, chunk)?;
//! }
//! session.logout()?;
//! # let _ = state;
//! # Ok::<(), ruadb_fetch::FetchError>(())
//! ```

#![warn(missing_docs)]

mod config;
mod contain;
mod error;
mod guard;
mod plan;
mod sasl;
mod session;

pub use config::{
    AfterIngest, AuthMethod, Config, EnvPassword, OAuth2Grant, OAuth2Provider, OAuth2Settings,
    Secret, TlsMode, run_secret_command,
};
pub use error::FetchError;
pub use guard::{DeadlineKind, Excess, Lexer, ReplyLimits};
pub use plan::{Cursor, Group, Resume, pending_uids, plan_groups};
pub use session::{
    Fetched, FetchedMessage, GROUP_BYTES, MailboxState, PostAction, SEARCH_WINDOW, Session,
    server_text,
};
