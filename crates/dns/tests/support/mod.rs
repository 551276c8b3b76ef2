//! Finding the DNS test server of `scripts/dns-test-server.sh`; shared by the tests of
//! ruadb-dns, ruadb-dnscheck and the `ruadb` binary (included with `#[path]`).

use std::net::SocketAddr;

/// The test server's address, or `None` (with a note) when it is not running; under CI it
/// must be.
pub fn test_server(test: &str) -> Option<SocketAddr> {
    match std::env::var("RUADB_TEST_DNS") {
        Ok(address) => Some(address.parse().expect("RUADB_TEST_DNS is host:port")),
        Err(_) => {
            let reason = "RUADB_TEST_DNS not set; run `scripts/dns-test-server.sh start` and \
                          `eval \"$(scripts/dns-test-server.sh env)\"`";
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{test}: DNS test server required under CI: {reason}"
            );
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}
