//! The loopback Dovecot started by `scripts/imap-test-server.sh`, found through the
//! `RUADB_TEST_IMAP_*` variables that `imap-test-server.sh env` prints.

#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

/// How the tests log in: `RUADB_TEST_IMAP_AUTH` = `password` (default), `xoauth2` or
/// `oauthbearer`. The whole IMAP suite runs in each mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Password,
    OAuth(ruadb_fetch::AuthMethod),
}

pub struct TestServer {
    pub host: String,
    pub port_tls: u16,
    pub port_starttls: u16,
    pub user: String,
    pub password: String,
    pub ca_file: PathBuf,
    /// The key the server validates access tokens with (hex).
    pub oauth_key: String,
    /// The state directory (`RUADB_TEST_IMAP_DIR`).
    pub dir: PathBuf,
    pub auth: Auth,
}

impl TestServer {
    /// The running test server, or `None` (with the reason printed) when the variables are
    /// absent outside CI. Under `CI=true` a missing server fails the test.
    pub fn from_env(test: &str) -> Option<TestServer> {
        let var = |name: &str| std::env::var(format!("RUADB_TEST_IMAP_{name}")).ok();
        let found = (|| {
            Some(TestServer {
                host: var("HOST")?,
                port_tls: var("PORT_TLS")?.parse().ok()?,
                port_starttls: var("PORT_STARTTLS")?.parse().ok()?,
                user: var("USER")?,
                password: var("PASSWORD")?,
                ca_file: PathBuf::from(var("CA_FILE")?),
                oauth_key: var("OAUTH_KEY")?,
                dir: PathBuf::from(var("DIR")?),
                auth: match var("AUTH").as_deref() {
                    None | Some("password") => Auth::Password,
                    Some("xoauth2") => Auth::OAuth(ruadb_fetch::AuthMethod::Xoauth2),
                    Some("oauthbearer") => Auth::OAuth(ruadb_fetch::AuthMethod::Oauthbearer),
                    Some(other) => panic!("RUADB_TEST_IMAP_AUTH={other}: not a mode"),
                },
            })
        })();
        if found.is_none() {
            let reason = "RUADB_TEST_IMAP_* not set; run `scripts/imap-test-server.sh start` and \
                          `eval \"$(scripts/imap-test-server.sh env)\"`";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: IMAP test server required under CI: {reason}");
            }
            eprintln!("skipping {test}: {reason}");
        }
        found
    }

    pub fn config(&self, user: &str) -> ruadb_fetch::Config {
        let mut config = ruadb_fetch::Config::new(
            self.host.clone(),
            user,
            ruadb_fetch::Secret::new(self.password.clone()),
        );
        config.port = Some(self.port_tls);
        config.ca_file = Some(self.ca_file.clone());
        config.timeout = Duration::from_secs(10);
        if let Auth::OAuth(method) = self.auth {
            config.auth = method;
            config.password = ruadb_fetch::Secret::new(self.token(user, 600));
        }
        config
    }

    /// An access token for `user`, valid for `ttl_secs`, with the scope the server wants.
    pub fn token(&self, user: &str, ttl_secs: i64) -> String {
        super::oauth::mint(&self.oauth_key, user, ttl_secs, super::oauth::SCOPE)
    }

    /// The `[imap]` lines that make `ruadb fetch` log in as this mode says: nothing for
    /// passwords (the tests set `RUADB_IMAP_PASSWORD`), else `auth` and an
    /// `oauth2_token_command` that mints a token with the server's script.
    pub fn auth_lines(&self, user: &str) -> String {
        match self.auth {
            Auth::Password => String::new(),
            Auth::OAuth(method) => format!(
                "auth = \"{method}\"\noauth2_token_command = {:?}\n",
                self.token_command(user, 600)
            ),
        }
    }

    /// A shell command printing a token for `user` valid for `ttl_secs`.
    pub fn token_command(&self, user: &str, ttl_secs: i64) -> String {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/imap-test-server.sh"
        );
        format!(
            "RUADB_TEST_IMAP_DIR='{}' bash '{script}' token '{user}' {ttl_secs}",
            self.dir.display()
        )
    }
}

/// A user name nobody else uses: the server logs in any name with the test password and gives
/// it an empty mailbox, so tests (and repeated runs) never see each other's mail.
pub fn fresh_user(test: &str) -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{test}-{:016x}@example.test", hasher.finish())
}
