//! The evidence rules and catalogue loading.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly"
)]

use ruadb_identify::{Catalogue, Evidence, IdentifyError, ServiceKind, SourceEvidence};

fn builtin() -> Catalogue {
    Catalogue::builtin().unwrap()
}

fn named(catalogue: &Catalogue, evidence: &SourceEvidence) -> Option<(String, Evidence)> {
    catalogue
        .identify(evidence)
        .map(|found| (found.service.name.clone(), found.evidence))
}

#[test]
fn the_builtin_catalogue_has_at_least_150_services_of_every_kind() {
    let catalogue = builtin();
    assert!(
        catalogue.services().len() >= 150,
        "{}",
        catalogue.services().len()
    );
    for kind in [
        ServiceKind::Mailbox,
        ServiceKind::Esp,
        ServiceKind::Crm,
        ServiceKind::Helpdesk,
        ServiceKind::Gateway,
        ServiceKind::Forwarder,
        ServiceKind::Hosting,
    ] {
        assert!(
            catalogue
                .services()
                .iter()
                .any(|service| service.kind == kind),
            "no {kind:?}"
        );
    }
    for service in catalogue.services() {
        assert!(
            !(service.dkim.is_empty() && service.spf.is_empty() && service.ptr.is_empty()),
            "{} has no domain",
            service.name
        );
    }
}

#[test]
fn a_passing_dkim_signature_names_the_service_by_suffix() {
    let catalogue = builtin();
    let evidence = SourceEvidence {
        dkim_pass: vec!["example.com".into(), "EU-West-1.AmazonSES.com.".into()],
        spf_pass: vec!["bounces.sendgrid.net".into()],
        confirmed_ptr_base: Some("mcsv.net".into()),
    };
    assert_eq!(
        named(&catalogue, &evidence),
        Some(("Amazon SES".into(), Evidence::Dkim))
    );
    // A suffix on a label boundary only.
    let lookalike = SourceEvidence {
        dkim_pass: vec!["notamazonses.com".into()],
        ..SourceEvidence::default()
    };
    assert_eq!(named(&catalogue, &lookalike), None);
}

#[test]
fn spf_names_the_service_when_no_dkim_signature_does() {
    let catalogue = builtin();
    let evidence = SourceEvidence {
        dkim_pass: vec!["example.com".into()],
        spf_pass: vec!["bounce.mtasv.net".into()],
        confirmed_ptr_base: Some("mailgun.net".into()),
    };
    assert_eq!(
        named(&catalogue, &evidence),
        Some(("Postmark".into(), Evidence::Spf))
    );
}

#[test]
fn a_confirmed_ptr_names_the_service_last() {
    let catalogue = builtin();
    let evidence = SourceEvidence {
        dkim_pass: vec!["example.com".into()],
        spf_pass: vec!["example.com".into()],
        confirmed_ptr_base: Some("outlook.com".into()),
    };
    assert_eq!(
        named(&catalogue, &evidence),
        Some(("Microsoft 365".into(), Evidence::Ptr))
    );
    assert_eq!(named(&catalogue, &SourceEvidence::default()), None);
}

#[test]
fn a_user_file_overrides_and_extends_the_builtin_catalogue() {
    let user = Catalogue::from_toml(
        r#"
[[service]]
name = "Amazon SES"
kind = "esp"
dkim = ["ses.example"]
setup = "ours"

[[service]]
name = "Ünïcødé ✉ Mailer"
kind = "esp"
spf = ["mailer.example"]
setup = "align {domain} 😀"
"#,
        "services.toml",
    )
    .unwrap();
    let catalogue = builtin().merge(user);
    let ses = catalogue.service("Amazon SES").unwrap();
    assert_eq!(ses.setup, "ours");
    assert_eq!(
        catalogue
            .service_for(Evidence::Dkim, "x.ses.example")
            .map(|service| service.name.as_str()),
        Some("Amazon SES")
    );
    assert!(
        catalogue
            .service_for(Evidence::Dkim, "amazonses.com")
            .is_none(),
        "the override replaces the built-in domains"
    );
    let odd = catalogue
        .service_for(Evidence::Spf, "mailer.example")
        .unwrap();
    assert_eq!(odd.setup_for("example.com"), "align example.com 😀");
}

fn error_of(text: &str) -> String {
    match Catalogue::from_toml(text, "my-services.toml") {
        Err(error @ IdentifyError::Catalogue { .. }) => error.to_string(),
        Err(other) => panic!("not a catalogue error: {other}"),
        Ok(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn a_bad_catalogue_is_one_error_naming_the_file_and_line() {
    let syntax = error_of("[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"x\ndkim = []\n");
    assert!(syntax.starts_with("my-services.toml: line 4: "), "{syntax}");
    let kind = error_of("[[service]]\nname = \"A\"\nkind = \"bank\"\nsetup = \"x\"\n");
    assert!(kind.starts_with("my-services.toml: line 3: "), "{kind}");
    assert!(kind.contains("bank"), "{kind}");
    let unknown = error_of("[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"x\"\ndkm = []\n");
    assert!(
        unknown.starts_with("my-services.toml: line 5: "),
        "{unknown}"
    );
    let domain = error_of(
        "# a comment\n[[service]]\nname = \"Bad\"\nkind = \"esp\"\nsetup = \"x\"\ndkim = [\"a b.com\"]\n",
    );
    assert!(domain.starts_with("my-services.toml: line 2: "), "{domain}");
    assert!(domain.contains("not a domain name"), "{domain}");
    let control = error_of("[[service]]\nname = \"A\\u001b[31m\"\nkind = \"esp\"\nsetup = \"x\"\n");
    assert!(control.contains("control character"), "{control}");
    let tld =
        error_of("[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"x\"\nptr = [\"com\"]\n");
    assert!(tld.contains("not a domain name"), "{tld}");
    let twice = error_of(
        "[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"x\"\n[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"y\"\n",
    );
    assert!(twice.contains("listed twice"), "{twice}");
    let include = error_of(
        "[[service]]\nname = \"A\"\nkind = \"esp\"\nsetup = \"x\"\nspf_include = \"a:esp.test\"\n",
    );
    assert!(
        include.starts_with("my-services.toml: line 1: "),
        "{include}"
    );
    assert!(include.contains("is not `include:<domain>`"), "{include}");
    for error in [syntax, kind, unknown, domain, control, tld, twice, include] {
        assert!(!error.contains('\n'), "{error:?}");
    }
}

#[test]
fn services_name_their_documented_spf_include() {
    let catalogue = builtin();
    let include = |name: &str| catalogue.service(name).unwrap().spf_include.clone();
    assert_eq!(
        include("Amazon SES").as_deref(),
        Some("include:amazonses.com")
    );
    assert_eq!(
        include("Google Workspace").as_deref(),
        Some("include:_spf.google.com")
    );
    assert_eq!(include("Amazon EC2"), None);
    let documented = catalogue
        .services()
        .iter()
        .filter(|service| service.spf_include.is_some())
        .count();
    assert!(documented >= 40, "{documented}");
    // A user's entry is read the same way: lowercase, `include:` spelt out.
    let mine = Catalogue::from_toml(
        "[[service]]\nname = \"Mine\"\nkind = \"esp\"\nspf = [\"mine.test\"]\nsetup = \"x\"\nspf_include = \"INCLUDE:_SPF.Mine.Test.\"\n",
        "mine.toml",
    )
    .unwrap();
    assert_eq!(
        mine.service("Mine").unwrap().spf_include.as_deref(),
        Some("include:_spf.mine.test")
    );
}
