//! The loopback Dovecot started by `scripts/imap-test-server.sh`, found through the
//! `RUADB_TEST_IMAP_*` variables that `imap-test-server.sh env` prints.

#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

pub struct TestServer {
    pub host: String,
    pub port_tls: u16,
    pub port_starttls: u16,
    pub user: String,
    pub password: String,
    pub ca_file: PathBuf,
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
        config
    }
}

/// A user name nobody else uses: the server logs in any name with the test password and gives
/// it an empty mailbox, so tests (and repeated runs) never see each other's mail.
pub fn fresh_user(test: &str) -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{test}-{:016x}@example.test", hasher.finish())
}
