//! Helpers shared by the IMAP tests (and included by path from the CLI tests).

pub mod authserver;
pub mod hostile;
pub mod mail;
pub mod oauth;
pub mod server;
