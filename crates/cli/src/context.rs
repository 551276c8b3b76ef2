//! What a command needs from the outside world, read once: the clock, the environment, the
//! configuration, whether stderr is a terminal.
//!
//! This is the only module that reads the clock or environment variables (clap's `env`
//! attributes aside), so every command is a function of its `Context` and can be tested by
//! building one. The clock is read once (`now`), and again only for OAuth 2.0 token lifetimes
//! (`Context::clock`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::cli::GlobalArgs;
use crate::config::Config;

/// The resolved settings and facts about the environment, passed to every command.
#[derive(Debug)]
pub struct Context {
    /// Now, in unix seconds (UTC).
    pub now: i64,
    /// The configuration (defaults when no file was found).
    pub config: Config,
    /// Whether to draw a progress line on stderr: it is a terminal that can redraw a line
    /// (not `TERM=dumb`).
    pub progress_on_stderr: bool,
    /// `RUADB_IMAP_PASSWORD`, for IMAP accounts without `password_file`/`password_command`.
    pub imap_password: ruadb_fetch::EnvPassword,
    db_path: Option<PathBuf>,
}

impl Context {
    /// Reads the clock, the environment and the configuration file.
    ///
    /// An explicitly named configuration file (`--config`, `RUADB_CONFIG`) must exist; the
    /// default one (`$XDG_CONFIG_HOME/ruadb/config.toml`) is read only when it does.
    pub fn from_environment(global: &GlobalArgs) -> anyhow::Result<Context> {
        #[expect(
            clippy::disallowed_methods,
            reason = "the one clock read of the program; everything else receives `now`"
        )]
        let now = chrono::Utc::now().timestamp();

        let home = env_path("HOME");
        let config = match &global.config {
            Some(path) => Config::load(path, home.as_deref())?,
            None => match default_config_path(home.as_deref()) {
                Some(path) if path.is_file() => Config::load(&path, home.as_deref())?,
                _ => Config::default(),
            },
        };
        let db_path = global
            .db
            .clone()
            .or_else(|| config.db.clone())
            .or_else(|| default_db_path(home.as_deref()));

        Ok(Context {
            now,
            config,
            progress_on_stderr: std::io::stderr().is_terminal()
                && std::env::var_os("TERM").is_none_or(|term| term != "dumb"),
            imap_password: imap_password_from_environment(),
            db_path,
        })
    }

    /// The database file: `--db` / `RUADB_DB`, else `db` from the configuration, else
    /// `$XDG_DATA_HOME/ruadb/ruadb.sqlite` (`~/.local/share/ruadb/ruadb.sqlite`).
    pub fn db_path(&self) -> anyhow::Result<&Path> {
        match &self.db_path {
            Some(path) => Ok(path),
            None => bail!(
                "no database path: pass --db, set RUADB_DB, or set `db` in the configuration (neither XDG_DATA_HOME nor HOME is set)"
            ),
        }
    }

    /// Now, read again: for decisions that must not use a time read minutes earlier, such as
    /// whether an access token is still valid when a later account of a long run logs in,
    /// or when a token obtained after a person took minutes to authorise expires.
    pub fn clock() -> i64 {
        #[expect(
            clippy::disallowed_methods,
            reason = "token lifetimes are measured against the real clock at the moment of use"
        )]
        let now = chrono::Utc::now().timestamp();
        now
    }

    /// The database path, failing with a clear message when the file does not exist yet
    /// (read-only commands must not create an empty database).
    pub fn existing_db_path(&self) -> anyhow::Result<&Path> {
        let path = self.db_path()?;
        if !path.is_file() {
            bail!(
                "database {} does not exist; run `ruadb ingest` or `ruadb fetch` first",
                path.display()
            );
        }
        Ok(path)
    }
}

/// A non-empty environment variable as a path (XDG says empty means unset).
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// XDG base directories must be absolute; a relative value is ignored, as the spec says.
fn xdg_dir(variable: &str, home: Option<&Path>, fallback: &str) -> Option<PathBuf> {
    env_path(variable)
        .filter(|path| path.is_absolute())
        .or_else(|| home.map(|home| home.join(fallback)))
}

fn default_config_path(home: Option<&Path>) -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", home, ".config").map(|dir| dir.join("ruadb").join("config.toml"))
}

fn default_db_path(home: Option<&Path>) -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", home, ".local/share").map(|dir| dir.join("ruadb").join("ruadb.sqlite"))
}

/// `RUADB_IMAP_PASSWORD`; empty counts as unset.
fn imap_password_from_environment() -> ruadb_fetch::EnvPassword {
    match std::env::var("RUADB_IMAP_PASSWORD") {
        Ok(password) if password.is_empty() => ruadb_fetch::EnvPassword::Unset,
        Ok(password) => ruadb_fetch::EnvPassword::Set(ruadb_fetch::Secret::new(password)),
        Err(std::env::VarError::NotPresent) => ruadb_fetch::EnvPassword::Unset,
        Err(std::env::VarError::NotUnicode(_)) => ruadb_fetch::EnvPassword::NotUnicode,
    }
}
