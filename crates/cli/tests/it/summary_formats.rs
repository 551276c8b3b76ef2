//! `ruadb summary --format html` on the fixtures: the document the library renders, on
//! stdout, with every format's exit statuses.

use crate::util::TestEnv;

/// A database with `fixtures/summary/` and the report with hostile names.
fn fixture_env() -> TestEnv {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "fixtures/summary", "fixtures/hostile-names"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env
}

#[test]
fn html_is_one_self_contained_document_with_the_charts() {
    let env = fixture_env();
    let run = env.run(&["summary", "--week", "2026-W47", "--format", "html"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let html = &run.stdout;
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg ").count(), 6, "three charts per domain");
    assert!(!html.contains("<script"), "hostile names are escaped");
    assert!(html.contains("&lt;script&gt;alert("), "and still shown");
    assert!(html.contains("Top failing sources"));
}
