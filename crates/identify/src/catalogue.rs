//! The service catalogue: loading, validating and looking up domains.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Evidence, IdentifyError};

/// The built-in catalogue (`services.toml` in this crate), embedded in the binary.
pub const BUILTIN_CATALOGUE: &str = include_str!("../services.toml");

/// What a service is, for grouping and advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// `mailbox`: a mailbox provider (Google Workspace, Microsoft 365…).
    Mailbox,
    /// `esp`: an email service provider, transactional or marketing.
    Esp,
    /// `crm`: a CRM or business application sending on a customer's behalf.
    Crm,
    /// `helpdesk`: a helpdesk or customer messaging tool.
    Helpdesk,
    /// `gateway`: a security gateway or relay in front of a mailbox provider.
    Gateway,
    /// `forwarder`: a forwarder, alias service or mailing list.
    Forwarder,
    /// `hosting`: a hosting or cloud network (named by reverse DNS).
    Hosting,
}

impl ServiceKind {
    /// The spelling in the catalogue, the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Mailbox => "mailbox",
            ServiceKind::Esp => "esp",
            ServiceKind::Crm => "crm",
            ServiceKind::Helpdesk => "helpdesk",
            ServiceKind::Gateway => "gateway",
            ServiceKind::Forwarder => "forwarder",
            ServiceKind::Hosting => "hosting",
        }
    }
}

/// One service of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's name, as shown to the user.
    pub name: String,
    /// What it is.
    pub kind: ServiceKind,
    /// DKIM signing domains (`d=`) that identify it, lowercase.
    #[serde(default)]
    pub dkim: Vec<String>,
    /// SPF (return-path) domains that identify it, lowercase.
    #[serde(default)]
    pub spf: Vec<String>,
    /// Organisational domains of its outbound hosts' PTR names, lowercase.
    #[serde(default)]
    pub ptr: Vec<String>,
    /// How a customer aligns mail sent through it; `{domain}` stands for the customer's
    /// domain ([`Service::setup_for`]).
    pub setup: String,
    /// The SPF term the service's documentation tells customers to add to their record
    /// (`include:amazonses.com`), lowercase; `None` when it documents none.
    #[serde(default)]
    pub spf_include: Option<String>,
}

impl Service {
    /// The setup hint with `{domain}` replaced by `domain`.
    pub fn setup_for(&self, domain: &str) -> String {
        self.setup.replace("{domain}", domain)
    }
}

/// The file as written: `[[service]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    service: Vec<Service>,
}

/// Services and the domains that name them.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    services: Vec<Service>,
    /// Per evidence kind (by [`Evidence`] order), each domain to its service's position.
    domains: [HashMap<String, usize>; 3],
}

/// Longest name the catalogue accepts for a service or a hint, in bytes.
const MAX_TEXT_BYTES: usize = 512;

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Result<Catalogue, IdentifyError> {
        Catalogue::from_toml(BUILTIN_CATALOGUE, "built-in catalogue")
    }

    /// Reads a catalogue from TOML text; `origin` names it in errors ("path: line N: …").
    pub fn from_toml(text: &str, origin: &str) -> Result<Catalogue, IdentifyError> {
        let error = |line: usize, message: String| IdentifyError::Catalogue {
            origin: origin.to_owned(),
            line,
            message,
        };
        let file: CatalogueFile = toml::from_str(text).map_err(|parse_error| {
            let line = parse_error
                .span()
                .map_or(1, |span| line_of(text, span.start));
            error(line, one_line(parse_error.message()))
        })?;
        let mut catalogue = Catalogue::default();
        let headers = service_header_lines(text);
        for (index, mut service) in file.service.into_iter().enumerate() {
            let line = headers.get(index).copied().unwrap_or(1);
            check_text(&service.name, "name").map_err(|message| error(line, message))?;
            check_text(&service.setup, "setup").map_err(|message| error(line, message))?;
            for (key, domains) in [
                ("dkim", &mut service.dkim),
                ("spf", &mut service.spf),
                ("ptr", &mut service.ptr),
            ] {
                for domain in domains.iter_mut() {
                    *domain = normalise(domain).ok_or_else(|| {
                        error(
                            line,
                            format!(
                                "service {:?}: {key} entry {domain:?} is not a domain name",
                                service.name
                            ),
                        )
                    })?;
                }
            }
            if let Some(include) = &mut service.spf_include {
                *include = spf_include(include).ok_or_else(|| {
                    error(
                        line,
                        format!(
                            "service {:?}: spf_include {include:?} is not `include:<domain>`",
                            service.name
                        ),
                    )
                })?;
            }
            if catalogue.position(&service.name).is_some() {
                return Err(error(
                    line,
                    format!("service {:?} is listed twice", service.name),
                ));
            }
            catalogue.services.push(service);
        }
        catalogue.index();
        Ok(catalogue)
    }

    /// This catalogue with `other`'s services: one with the same name replaces this one's,
    /// a new name is added. Domains then name the last service that lists them.
    pub fn merge(mut self, other: Catalogue) -> Catalogue {
        for service in other.services {
            match self.position(&service.name) {
                Some(position) => self.services[position] = service,
                None => self.services.push(service),
            }
        }
        self.index();
        self
    }

    /// The services, in catalogue order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service called `name`, if any.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.position(name).map(|position| &self.services[position])
    }

    /// The service whose `kind` domains contain `domain` or one of its parent domains.
    pub fn service_for(&self, kind: Evidence, domain: &str) -> Option<&Service> {
        let map = &self.domains[kind as usize];
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = domain.as_str();
        loop {
            if let Some(&position) = map.get(rest) {
                return self.services.get(position);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|service| service.name == name)
    }

    fn index(&mut self) {
        self.domains = Default::default();
        for (position, service) in self.services.iter().enumerate() {
            for (kind, domains) in [
                (Evidence::Dkim, &service.dkim),
                (Evidence::Spf, &service.spf),
                (Evidence::Ptr, &service.ptr),
            ] {
                for domain in domains {
                    self.domains[kind as usize].insert(domain.clone(), position);
                }
            }
        }
    }
}

/// `domain` lowercase without a trailing dot, if it is a domain name ruadb accepts.
fn normalise(domain: &str) -> Option<String> {
    let parsed = ruadb_report::DomainName::parse(domain).ok()?;
    let text = parsed.as_str();
    // A single label would match every name under a top-level domain.
    text.contains('.').then(|| text.to_owned())
}

/// An `include:<domain>` term with its domain normalised, if it is one.
fn spf_include(term: &str) -> Option<String> {
    let (mechanism, domain) = term.trim().split_once(':')?;
    if !mechanism.eq_ignore_ascii_case("include") {
        return None;
    }
    normalise(domain).map(|domain| format!("include:{domain}"))
}

fn check_text(text: &str, key: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{key} is empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("{key} is longer than {MAX_TEXT_BYTES} bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{key} contains a control character"));
    }
    Ok(())
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// The 1-based lines of the `[[service]]` headers, in order: a service's errors name its
/// header's line.
fn service_header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == "[[service]]")
        .map(|(index, _)| index + 1)
        .collect()
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
