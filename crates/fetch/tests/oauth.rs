//! OAuth 2.0 logins (XOAUTH2, OAUTHBEARER) against the loopback Dovecot, whose oauth2 passdb
//! validates the tokens (`scripts/imap-test-server.sh`): both mechanisms, and the refusals a
//! user meets (expired token, wrong scope, a token for someone else), each one readable line
//! without the token in it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod support;

use ruadb_fetch::{AuthMethod, Config, FetchError, Secret, Session};
use support::oauth::{SCOPE, mint};
use support::server::{TestServer, fresh_user};

const MECHANISMS: [AuthMethod; 2] = [AuthMethod::Xoauth2, AuthMethod::Oauthbearer];

fn oauth_config(server: &TestServer, user: &str, method: AuthMethod, token: &str) -> Config {
    let mut config = server.config(user);
    config.auth = method;
    config.password = Secret::new(token);
    config
}

fn refusal(server: &TestServer, user: &str, method: AuthMethod, token: &str) -> String {
    let config = oauth_config(server, user, method, token);
    let error = Session::connect(&config).expect_err("the server must refuse this token");
    assert!(
        matches!(error, FetchError::Auth { .. }),
        "{method}: {error:?}"
    );
    let text = error.to_string();
    assert!(!text.contains(token), "{method}: the token leaked: {text}");
    assert!(!format!("{error:?}").contains(token), "{method}: {error:?}");
    assert!(!text.contains('\n'), "{text}");
    text
}

#[test]
fn each_mechanism_logs_in_and_reads_the_mailbox() {
    let Some(server) = TestServer::from_env("each_mechanism_logs_in_and_reads_the_mailbox") else {
        return;
    };
    for method in MECHANISMS {
        let user = fresh_user("oauth-login");
        let token = mint(&server.oauth_key, &user, 600, SCOPE);
        let mut session = Session::connect(&oauth_config(&server, &user, method, &token))
            .unwrap_or_else(|error| panic!("{method}: {error}"));
        let state = session.select("INBOX").unwrap();
        assert_eq!(state.exists, 0);
        session.logout().unwrap();
    }
}

#[test]
fn an_expired_token_is_refused_with_the_servers_reason() {
    let Some(server) = TestServer::from_env("an_expired_token_is_refused_with_the_servers_reason")
    else {
        return;
    };
    let user = fresh_user("oauth-expired");
    let token = mint(&server.oauth_key, &user, -30, SCOPE);
    for method in MECHANISMS {
        let text = refusal(&server, &user, method, &token);
        assert!(
            text.contains("token refused: status ")
                && text.contains("(token invalid, expired or revoked)"),
            "{method}: {text}"
        );
        assert!(text.contains(&format!("login as {user:?}")), "{text}");
    }
}

#[test]
fn a_token_without_the_mail_scope_or_for_another_user_is_refused() {
    let Some(server) =
        TestServer::from_env("a_token_without_the_mail_scope_or_for_another_user_is_refused")
    else {
        return;
    };
    let user = fresh_user("oauth-scope");
    let wrong_scope = mint(
        &server.oauth_key,
        &user,
        600,
        "https://calendar.example.test/",
    );
    let someone_else = mint(&server.oauth_key, "someone-else@example.test", 600, SCOPE);
    let forged = mint(&"00".repeat(32), &user, 600, SCOPE);
    for method in MECHANISMS {
        for token in [&wrong_scope, &someone_else, &forged] {
            let text = refusal(&server, &user, method, token);
            assert!(text.contains("token refused"), "{method}: {text}");
        }
    }
}

#[test]
fn a_password_is_not_a_token() {
    let Some(server) = TestServer::from_env("a_password_is_not_a_token") else {
        return;
    };
    let user = fresh_user("oauth-password");
    let password = server.password.clone();
    for method in MECHANISMS {
        refusal(&server, &user, method, &password);
    }
    // And a token is not a password.
    let mut config = server.config(&user);
    config.auth = AuthMethod::Password;
    config.password = Secret::new(mint(&server.oauth_key, &user, 600, SCOPE));
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Auth { .. }), "{error:?}");
}
