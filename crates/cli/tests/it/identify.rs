use crate::util::TestEnv;

/// One report for example.com on 2026-11-17 whose sources a catalogue can name: a passed
/// Amazon SES DKIM signature, a Postmark SPF pass (misaligned: Postmark's setup advice), a
/// failed SendGrid signature (names nothing) and an unsigned source.
pub(crate) fn report(extra_record: &str) -> String {
    let record = |ip: &str, count: u32, dkim: &str, spf: &str, auth: &str| {
        format!(
            "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated>\
             </row><identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results>{auth}</auth_results></record>"
        )
    };
    let dkim = |domain: &str, result: &str| {
        format!(
            "<dkim><domain>{domain}</domain><selector>s1</selector><result>{result}</result></dkim>"
        )
    };
    let spf = |domain: &str, result: &str| {
        format!("<spf><domain>{domain}</domain><result>{result}</result></spf>")
    };
    let records = [
        record(
            "192.0.2.10",
            40,
            "pass",
            "fail",
            &(dkim("example.com", "pass")
                + &dkim("eu-west-1.amazonses.com", "pass")
                + &spf("amazonses.com", "pass")),
        ),
        record(
            "192.0.2.20",
            7,
            "fail",
            "fail",
            &spf("pm-bounces.mtasv.net", "pass"),
        ),
        record(
            "192.0.2.30",
            3,
            "fail",
            "fail",
            &(dkim("sendgrid.net", "fail") + &spf("example.com", "fail")),
        ),
        record(
            "2001:db8::5",
            2,
            "fail",
            "fail",
            &spf("example.com", "none"),
        ),
    ];
    format!(
        "<feedback><report_metadata><org_name>receiver.example</org_name>\
         <email>dmarc@receiver.example</email><report_id>identify-{}</report_id>\
         <date_range><begin>1794873600</begin><end>1794959999</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>none</p></policy_published>{}{extra_record}</feedback>",
        extra_record.len(),
        records.concat()
    )
}

fn ingested(env: &TestEnv, args: &[&str]) {
    let path = env.write("report.xml", report(""));
    let mut command = vec!["ingest"];
    command.extend_from_slice(args);
    let path = path.to_str().unwrap().to_owned();
    command.push(&path);
    let run = env.run(&command);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn ingest_names_the_services_from_the_reports_evidence() {
    let env = TestEnv::new();
    ingested(&env, &[]);
    assert_eq!(
        env.sql("SELECT * FROM source_identity ORDER BY source_ip"),
        "source_ip,service,service_kind,evidence,ptr,ptr_confirmed,ptr_base_domain,asn,as_org,country,resolved_utc,ip_database\n\
         192.0.2.10,Amazon SES,esp,dkim,,,,,,,,\n\
         192.0.2.20,Postmark,esp,spf,,,,,,,,\n\
         192.0.2.30,,,,,,,,,,,\n\
         2001:db8::5,,,,,,,,,,,\n"
    );
    // The view joins with source_daily.
    assert_eq!(
        env.sql(
            "SELECT i.service, SUM(d.messages) FROM source_daily AS d \
             JOIN source_identity AS i USING (source_ip) GROUP BY 1 ORDER BY 2 DESC"
        ),
        "service,SUM(d.messages)\nAmazon SES,40\nPostmark,7\n,5\n"
    );

    let sources = env.run(&["sources", "--format", "json"]);
    assert_eq!(sources.code, 0, "{}", sources.stderr);
    let rows: serde_json::Value = serde_json::from_str(&sources.stdout).unwrap();
    let first = &rows[0];
    assert_eq!(first["source_ip"], "192.0.2.10");
    assert_eq!(first["service"], "Amazon SES");
    for key in ["ptr", "asn", "as_org", "country"] {
        assert!(first[key].is_null(), "{key}: {first}");
    }
    let table = env.run(&["sources"]);
    assert!(
        table.stdout.lines().next().unwrap().contains("service"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("Postmark"), "{}", table.stdout);
}

#[test]
fn the_summary_names_services_groups_them_and_advises_with_their_setup() {
    let env = TestEnv::new();
    ingested(&env, &[]);
    let text = env.run(&["summary", "--week", "2026-W47"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("Amazon SES (esp, by dkim)"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("\nBy service\n"), "{}", text.stdout);
    assert!(
        text.stdout.contains(
            "Postmark sends as example.com without alignment: verify DKIM for example.com in \
             Postmark"
        ) || text
            .stdout
            .contains("Postmark sends as example.com without alignment:"),
        "{}",
        text.stdout
    );
    for line in text.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    let json = env.run(&["summary", "--week", "2026-W47", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let summary: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let domain = &summary["domains"][0];
    let ses = domain["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|source| source["source_ip"] == "192.0.2.10")
        .unwrap();
    assert_eq!(
        ses["identity"],
        serde_json::json!({"service": "Amazon SES", "service_kind": "esp", "evidence": "dkim",
            "ptr": null, "ptr_confirmed": null, "asn": null, "as_org": null, "country": null})
    );
    let services = domain["services"].as_array().unwrap();
    assert_eq!(services[0]["service"], "Amazon SES");
    assert_eq!(services[0]["sources"], 1);
    assert_eq!(services[0]["messages"], 40);
    assert_eq!(services[0]["dmarc_pass"], 40);
    assert_eq!(services[0]["classification"], "aligned");
    assert_eq!(services[1]["service"], "Postmark");
    assert_eq!(services[1]["classification"], "misaligned");
    assert!(services[2]["service"].is_null(), "{services:?}");
    assert_eq!(services[2]["sources"], 2);
    let markdown = env.run(&["summary", "--week", "2026-W47", "--format", "markdown"]);
    assert!(
        markdown.stdout.contains("### By service"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn no_identify_leaves_it_to_ruadb_identify() {
    let env = TestEnv::new();
    ingested(&env, &["--no-identify"]);
    assert_eq!(
        env.sql("SELECT COUNT(*) FROM source_identity"),
        "COUNT(*)\n0\n"
    );
    let run = env.run(&["identify", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), r#"{"sources":4,"new":4,"named":2}"#);
    assert!(
        run.stderr
            .contains("identify: 4 sources (4 new): 2 named by a service, 2 unknown"),
        "{}",
        run.stderr
    );
    // Nothing new: the same sources, none new.
    let again = env.run(&["identify", "--json"]);
    assert_eq!(again.stdout.trim(), r#"{"sources":4,"new":0,"named":2}"#);
    let refreshed = env.run(&["identify", "--refresh", "--json"]);
    assert_eq!(
        refreshed.stdout.trim(),
        r#"{"sources":4,"new":0,"named":2}"#
    );
}

#[test]
fn a_services_file_overrides_the_catalogue_and_its_text_is_never_printed_raw() {
    let env = TestEnv::new();
    env.write(
        "services.toml",
        "[[service]]\nname = \"Evil\\u001b[2J Mailer\\u202e\"\nkind = \"esp\"\nspf = [\"mtasv.net\"]\nsetup = \"x\"\n",
    );
    let config = env.write(
        "config.toml",
        format!(
            "[identify]\ndns = false\nservices_file = \"{}\"\n",
            env.path("services.toml").display()
        ),
    );
    let config = config.to_str().unwrap().to_owned();
    // Control characters are refused in the catalogue: one line naming file and line.
    let path = env.write("report.xml", report(""));
    let run = env.run(&["--config", &config, "ingest", path.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "a bad catalogue never fails ingest: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("services.toml: line 1: "),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    let identify = env.run(&["--config", &config, "identify"]);
    assert_ne!(identify.code, 0);
    assert!(
        identify
            .stderr
            .contains("services.toml: line 1: name contains a control character"),
        "{}",
        identify.stderr
    );
    assert_eq!(
        identify.stderr.trim().lines().count(),
        1,
        "{}",
        identify.stderr
    );

    // Odd but printable Unicode is data: stored as written, escaped where shown.
    env.write(
        "services.toml",
        "[[service]]\nname = \"Pöstmärk \\u202e✉\"\nkind = \"esp\"\nspf = [\"mtasv.net\"]\nsetup = \"go {domain}\"\n",
    );
    let refreshed = env.run(&["--config", &config, "identify", "--refresh"]);
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    assert_eq!(
        env.sql("SELECT service FROM source_identity WHERE source_ip = '192.0.2.20'"),
        "service\nPöstmärk \u{202e}✉\n"
    );
    let text = env.run(&["summary", "--week", "2026-W47"]);
    assert!(!text.stdout.contains('\u{202e}'), "{}", text.stdout);
    assert!(text.stdout.contains("Pöstmärk"), "{}", text.stdout);
    assert!(
        text.stdout.contains("without alignment: go"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_demo_services_fixture_names_its_senders_from_the_catalogue() {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "fixtures/demo-services"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        env.sql("SELECT source_ip, service, service_kind, evidence FROM source_identity ORDER BY source_ip"),
        "source_ip,service,service_kind,evidence\n\
         192.0.2.40,Google Workspace,mailbox,dkim\n\
         192.0.2.41,Amazon SES,esp,dkim\n\
         198.51.100.42,SendGrid,esp,dkim\n\
         198.51.100.43,Mailchimp,esp,dkim\n\
         203.0.113.30,,,\n",
        "a failed zendesk.com signature is no evidence: only its confirmed PTR names it"
    );
    let text = env.run(&["summary", "--week", "2026-W47"]);
    assert!(
        text.stdout.contains(
            "192.0.2.41 — Amazon SES sends as example.com without alignment: enable Easy\n    \
             DKIM for example.com and a custom MAIL FROM domain"
        ),
        "{}",
        text.stdout
    );
}
