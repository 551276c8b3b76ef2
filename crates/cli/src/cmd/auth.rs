//! `ruadb auth`: the OAuth 2.0 side of the `[imap]` accounts. `login` authorises ruadb once
//! for an account with `[imap.oauth2]` and stores the refresh token; `status` shows per
//! account how it logs in and the state of its tokens, never a token itself.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use ruadb_fetch::{Config as Account, OAuth2Grant};
use ruadb_oauth::{Prompt, TokenFile, TokenSource};
use ruadb_report::escape_for_terminal;
use serde::Serialize;

use crate::Outcome;
use crate::cmd::fetch::{Lock, acquire_lock, allowed_lock_secs, uses_token_file};
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Authorise ruadb for an account with [imap.oauth2] (device code, or a browser on this
    /// machine) and store its refresh token.
    Login(LoginArgs),
    /// Per account: how it logs in, when its access token expires, when it was last
    /// refreshed. Never prints a token.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The account: `user@host:port` as `ruadb auth status` shows it, or its username.
    /// Needed when several accounts use [imap.oauth2] with grant = "refresh_token".
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// How long to wait for the authorisation to be completed.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub wait_secs: u64,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    match &args.command {
        AuthCommand::Login(login) => run_login(login, context),
        AuthCommand::Status(status) => run_status(status, context),
    }
}

/// Accounts whose refresh token `auth login` obtains.
fn authorisable(account: &Account) -> bool {
    uses_token_file(account)
        && account
            .oauth2
            .as_ref()
            .is_some_and(|settings| settings.grant == OAuth2Grant::RefreshToken)
}

fn choose<'a>(accounts: &'a [Account], wanted: Option<&str>) -> anyhow::Result<&'a Account> {
    let candidates: Vec<&Account> = accounts.iter().filter(|a| authorisable(a)).collect();
    let names = || {
        candidates
            .iter()
            .map(|account| account.account())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if candidates.is_empty() {
        bail!(
            "no [imap] account has an [imap.oauth2] table with grant = \"refresh_token\"; `ruadb auth login` has nothing to authorise"
        );
    }
    match wanted {
        Some(name) => {
            let matching: Vec<&Account> = candidates
                .iter()
                .copied()
                .filter(|account| account.account() == name || account.username == name)
                .collect();
            match matching.as_slice() {
                [account] => Ok(account),
                [] => bail!(
                    "no account {name:?} with [imap.oauth2] grant = \"refresh_token\"; accounts: {}",
                    names()
                ),
                _ => bail!("{name:?} names several accounts; pass one of: {}", names()),
            }
        }
        None => match candidates.as_slice() {
            [account] => Ok(account),
            _ => bail!(
                "several accounts use [imap.oauth2]; pass --account with one of: {}",
                names()
            ),
        },
    }
}

fn run_login(args: &LoginArgs, context: &Context) -> anyhow::Result<Outcome> {
    let account = choose(&context.config.imap, args.account.as_deref())?;
    let Some(settings) = &account.oauth2 else {
        bail!("{}: no [imap.oauth2] table", account.account());
    };
    let db_path = context.db_path()?;
    let file = ruadb_oauth::token_file_for(db_path);
    let name = account.account();
    let source = TokenSource::new(
        settings,
        account.ca_file.as_deref(),
        account.timeout,
        file.clone(),
        name.clone(),
    )?;
    let shown = escape_for_terminal(&name);
    let mut prompt = |prompt: Prompt<'_>| {
        let text = match prompt {
            Prompt::Device {
                verification_uri,
                user_code,
                verification_uri_complete,
                expires_in,
            } => {
                let mut text = format!(
                    "To authorise ruadb for {shown}, open\n  {}\nand enter the code {} (valid for {} min).\n",
                    escape_for_terminal(verification_uri),
                    escape_for_terminal(user_code),
                    expires_in.as_secs().div_ceil(60)
                );
                if let Some(complete) = verification_uri_complete {
                    text.push_str(&format!(
                        "Or open, with the code filled in:\n  {}\n",
                        escape_for_terminal(complete)
                    ));
                }
                text
            }
            Prompt::Browser { url } => format!(
                "To authorise ruadb for {shown}, open this address in a browser on this machine:\n  {}\n",
                escape_for_terminal(url)
            ),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}Waiting (up to {} s)...", args.wait_secs);
        let _ = stdout.flush();
    };
    let authorisation = source.authorise(Duration::from_secs(args.wait_secs), &mut prompt)?;
    // The token file is rewritten: not while a fetch may be refreshing. The lock is taken only
    // now, so that cron's runs go on while a person signs in.
    let allowed = allowed_lock_secs(&context.config.imap);
    let _lock = match acquire_lock(db_path, true, Context::clock(), allowed)? {
        Lock::Held(lock) => lock,
        Lock::Busy { path, .. } => bail!(
            "an earlier `ruadb fetch` has held {} longer than its deadline allows; it may be stuck, and the authorisation was not stored",
            path.display()
        ),
    };
    let flow = source.store(authorisation, Context::clock())?;
    println!(
        "Authorised ({}): the refresh token for {shown} is stored in {} (mode 0600).",
        flow.grant_name(),
        escape_for_terminal(&file.display().to_string())
    );
    Ok(Outcome::Success)
}

/// One account in `auth status`.
#[derive(Serialize)]
struct AccountStatus {
    account: String,
    auth: String,
    /// `password`, `oauth2_token_command` or `oauth2`.
    token_source: &'static str,
    provider: Option<&'static str>,
    grant: Option<&'static str>,
    refresh_token: Option<bool>,
    access_token_expires_at: Option<String>,
    access_token_expired: Option<bool>,
    last_refresh: Option<String>,
    obtained_by: Option<String>,
}

#[derive(Serialize)]
struct Status {
    token_file: String,
    accounts: Vec<AccountStatus>,
}

fn run_status(args: &StatusArgs, context: &Context) -> anyhow::Result<Outcome> {
    let accounts = &context.config.imap;
    if accounts.is_empty() {
        bail!("no [imap] section in the configuration");
    }
    let file = ruadb_oauth::token_file_for(context.db_path()?);
    // Read without the lock: the file is only ever replaced whole.
    let tokens = if accounts.iter().any(uses_token_file) {
        TokenFile::read(&file)?
    } else {
        TokenFile::default()
    };
    let statuses: Vec<AccountStatus> = accounts
        .iter()
        .map(|account| status(account, &tokens, context.now))
        .collect();
    if args.json {
        let status = Status {
            token_file: file.display().to_string(),
            accounts: statuses,
        };
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &status)?;
        writeln!(stdout).context("cannot write to stdout")?;
        return Ok(Outcome::Success);
    }
    let mut text = String::new();
    for status in &statuses {
        text.push_str(&status_text(status, context.now, &tokens, accounts));
    }
    print!("{text}");
    Ok(Outcome::Success)
}

fn status(account: &Account, tokens: &TokenFile, now: i64) -> AccountStatus {
    let name = account.account();
    let mut status = AccountStatus {
        account: name.clone(),
        auth: account.auth.to_string(),
        token_source: if !account.auth.is_oauth() {
            "password"
        } else if account.oauth2.is_some() {
            "oauth2"
        } else {
            "oauth2_token_command"
        },
        provider: None,
        grant: None,
        refresh_token: None,
        access_token_expires_at: None,
        access_token_expired: None,
        last_refresh: None,
        obtained_by: None,
    };
    let Some(settings) = account.oauth2.as_ref().filter(|_| uses_token_file(account)) else {
        return status;
    };
    status.provider = Some(match settings.provider {
        ruadb_fetch::OAuth2Provider::Microsoft => "microsoft",
        ruadb_fetch::OAuth2Provider::Google => "google",
        ruadb_fetch::OAuth2Provider::Custom => "custom",
    });
    status.grant = Some(match settings.grant {
        OAuth2Grant::RefreshToken => "refresh_token",
        OAuth2Grant::ClientCredentials => "client_credentials",
    });
    let stored = tokens.account(&name).unwrap_or_default();
    if settings.grant == OAuth2Grant::RefreshToken {
        status.refresh_token = Some(stored.refresh_token.is_some());
    }
    if stored.access_token.is_some() {
        status.access_token_expires_at = stored.expires_at.map(utc);
        status.access_token_expired = stored.expires_at.map(|expires| expires <= now);
    }
    status.last_refresh = stored.last_refresh.map(utc);
    status.obtained_by = stored.method;
    status
}

fn status_text(
    status: &AccountStatus,
    now: i64,
    tokens: &TokenFile,
    accounts: &[Account],
) -> String {
    let mut text = format!("{}\n", escape_for_terminal(&status.account));
    let login = match (status.token_source, status.provider, status.grant) {
        ("oauth2", Some(provider), Some(grant)) => {
            format!(
                "{}, tokens from [imap.oauth2] (provider {provider}, grant {grant})",
                status.auth
            )
        }
        ("oauth2_token_command", _, _) => {
            format!("{}, tokens from oauth2_token_command", status.auth)
        }
        _ => "password".to_owned(),
    };
    text.push_str(&format!("  login:         {login}\n"));
    if status.token_source != "oauth2" {
        return text;
    }
    match status.refresh_token {
        Some(true) => text.push_str("  refresh token: stored\n"),
        Some(false) => text.push_str(&format!(
            "  refresh token: none; run `ruadb auth login{}`\n",
            if accounts.iter().filter(|a| authorisable(a)).count() > 1 {
                format!(" --account {}", escape_for_terminal(&status.account))
            } else {
                String::new()
            }
        )),
        None => {}
    }
    let expiry = tokens
        .account(&status.account)
        .filter(|stored| stored.access_token.is_some())
        .and_then(|stored| stored.expires_at);
    let access = match expiry {
        None => "none cached".to_owned(),
        Some(expires) if expires <= now => format!("expired {}", utc(expires)),
        Some(expires) => format!(
            "expires {} (in {} min)",
            utc(expires),
            (expires - now).div_euclid(60)
        ),
    };
    text.push_str(&format!("  access token:  {access}\n"));
    let refreshed = match (&status.last_refresh, &status.obtained_by) {
        (Some(when), Some(how)) => format!("{when} ({})", escape_for_terminal(how)),
        (Some(when), None) => when.clone(),
        (None, _) => "never".to_owned(),
    };
    text.push_str(&format!("  last refresh:  {refreshed}\n"));
    text
}

fn utc(seconds: i64) -> String {
    match chrono::DateTime::from_timestamp(seconds, 0) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => seconds.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(user: &str, host: &str, oauth2: bool) -> Account {
        let oauth2 = if oauth2 {
            "[oauth2]\nprovider = \"google\"\nclient_id = \"c\"\n"
        } else {
            ""
        };
        toml::from_str(&format!(
            "host = {host:?}\nusername = {user:?}\nauth = \"xoauth2\"\n{}{oauth2}",
            if oauth2.is_empty() {
                "oauth2_token_command = \"x\"\n"
            } else {
                ""
            }
        ))
        .unwrap()
    }

    #[test]
    fn login_picks_the_one_authorisable_account_or_the_named_one() {
        let accounts = [
            account("a@example.com", "imap.gmail.com", true),
            account("b@example.com", "imap.gmail.com", true),
            account("c@example.com", "mail.example.com", false),
        ];
        let error = choose(&accounts, None).unwrap_err().to_string();
        assert!(
            error.contains("pass --account with one of: a@example.com@imap.gmail.com:993, b@example.com@imap.gmail.com:993"),
            "{error}"
        );
        assert_eq!(
            choose(&accounts, Some("b@example.com")).unwrap().username,
            "b@example.com"
        );
        assert_eq!(
            choose(&accounts, Some("a@example.com@imap.gmail.com:993"))
                .unwrap()
                .username,
            "a@example.com"
        );
        let error = choose(&accounts, Some("c@example.com"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no account \"c@example.com\""), "{error}");
        assert_eq!(
            choose(&accounts[1..], None).unwrap().username,
            "b@example.com"
        );
        assert!(choose(&accounts[2..], None).is_err());
    }
}
