use crate::util::TestEnv;

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let env = TestEnv::new();
    let config = env.write(
        "bad.toml",
        "[imap]\nhost = \"imap.example.com\"\nusername = \"u\"\nmailbx = \"INBOX\"\n",
    );
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "parse",
        "fixtures/demo",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid configuration file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("mailbx"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn the_environment_names_the_config_and_a_missing_one_is_an_error() {
    let env = TestEnv::new();
    let run = env
        .command(&["parse", "fixtures/demo"])
        .env("RUADB_CONFIG", env.path("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot read configuration file"));
}

#[test]
fn the_default_config_sets_the_database() {
    let env = TestEnv::new();
    env.write(
        "config/ruadb/config.toml",
        "db = \"../../from-config.sqlite\"\ndomains = [\"example.com\"]\n[identify]\ndns = false\n",
    );
    let run = env
        .command(&["ingest", "fixtures/reports/ipv6.xml"])
        .env_remove("RUADB_DB")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(env.path("from-config.sqlite").is_file());
    assert!(!String::from_utf8_lossy(&run.stderr).contains("`domains` is not set"));
}

#[test]
fn without_config_the_database_goes_to_the_xdg_data_dir() {
    let env = TestEnv::new();
    let run = env
        .command(&["ingest", "fixtures/reports/ipv6.xml"])
        .env_remove("RUADB_DB")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    assert!(env.path("data/ruadb/ruadb.sqlite").is_file());
}

#[test]
fn a_bad_database_path_is_fatal() {
    let env = TestEnv::new();
    env.write("file", "x");
    let run = env.run(&[
        "--db",
        env.path("file/db.sqlite").to_str().unwrap(),
        "ingest",
        "fixtures/demo",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot open database"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_endless_configuration_file_is_refused_after_a_bounded_read() {
    let env = TestEnv::new();
    let run = env.run(&["--config", "/dev/zero", "parse", "fixtures/demo"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("configuration file /dev/zero is larger than 1024 KiB"),
        "{}",
        run.stderr
    );
}
