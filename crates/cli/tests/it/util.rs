//! A temporary home for one test: its own database, XDG directories and config.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root: commands run there so input names are `fixtures/…`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary directory with `RUADB_DB` pointing into it and the environment cleaned of
/// anything that would make the test depend on the machine it runs on.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TestEnv {
    /// With a default configuration that turns reverse DNS off: no test reaches the
    /// network (the DNS tests name the local test server in their own configuration).
    pub fn new() -> TestEnv {
        let env = TestEnv {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        env.write("config/ruadb/config.toml", "[identify]\ndns = false\n");
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("ruadb.sqlite")
    }

    /// Writes a file under the temporary directory (parents created) and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
        std::fs::write(&path, bytes).expect("write file");
        path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ruadb"));
        command
            .args(args)
            .current_dir(repo_root())
            .env_remove("RUADB_CONFIG")
            .env_remove("RUADB_IMAP_PASSWORD")
            .env_remove("RUADB_PARSE_THREADS")
            .env("RUADB_DB", self.db())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"));
        command
    }

    /// Runs ruadb with its stdin, stdout and stderr on a pseudo-terminal (through util-linux
    /// `script`) and returns everything it wrote there, or `None` when `script` is missing.
    pub fn run_on_terminal(&self, args: &[&str]) -> Option<Run> {
        self.run_on_terminal_with_env(args, &[])
    }

    /// [`TestEnv::run_on_terminal`] with extra environment variables.
    pub fn run_on_terminal_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Run> {
        let mut ruadb = self.command(args);
        // A terminal that can redraw a line, whatever the one running the tests is.
        ruadb.env("TERM", "xterm").envs(env.iter().copied());
        let quote =
            |word: &std::ffi::OsStr| format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"));
        let mut shell = quote(ruadb.get_program());
        for arg in ruadb.get_args() {
            shell.push(' ');
            shell.push_str(&quote(arg));
        }
        let mut script = Command::new("script");
        script
            .args(["--quiet", "--return", "--command"])
            .arg(&shell)
            .arg("/dev/null")
            .current_dir(repo_root());
        for (key, value) in ruadb.get_envs() {
            match value {
                Some(value) => script.env(key, value),
                None => script.env_remove(key),
            };
        }
        match script.stdin(Stdio::null()).output() {
            Ok(output) => Some(finish(&output)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => panic!("cannot run script: {error}"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, b"")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ruadb");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write stdin");
        drop(input);
        finish(&child.wait_with_output().expect("wait for ruadb"))
    }

    /// `ruadb sql --format csv`, for assertions on the stored data.
    pub fn sql(&self, query: &str) -> String {
        let run = self.run(&["sql", "--format", "csv", query]);
        assert_eq!(run.code, 0, "sql failed: {}", run.stderr);
        run.stdout.replace("\r\n", "\n")
    }
}

fn finish(output: &Output) -> Run {
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "ruadb panicked: {}",
        run.stderr
    );
    run
}
