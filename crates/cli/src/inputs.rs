//! Command-line paths → named inputs: files, directories, mbox files, Maildirs and stdin.
//!
//! - A directory is walked recursively in byte order of the names, so runs are repeatable.
//!   Hidden entries (names starting with `.`) are skipped while walking: editor backups,
//!   `.DS_Store`, Maildir++ subfolders. A hidden path named on the command line is read.
//! - A Maildir (a directory with `cur/` and `new/`) is read from `cur/` and `new/` only;
//!   `tmp/` holds deliveries still being written.
//! - A file (or stdin) that starts with `From ` is an mbox: it is split into messages, each
//!   named `PATH#N` (N from 1), with `>From ` lines unescaped (mboxrd).
//! - `-` is stdin, named `-`.
//! - An mbox message or stdin is held in memory, so each is capped at
//!   `limits.max_message_mib`: one over it is handed over as an error ([`too_large`]) after
//!   reading no more than the cap (an mbox is read on to the next message), and the walk goes
//!   on. Lines are read in pieces, so an endless line cannot take memory either.
//! - Symbolic links to directories are not followed while walking (links to files are).
//!
//! Inputs are produced one at a time, so a huge directory or mbox is never held in memory:
//! a directory's names are read in passes of at most [`NAMES_PER_PASS`].
//! [`total_bytes`] walks the same paths by the same rules without reading any file, so a
//! progress display can know the total up front.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// One thing to read reports from.
#[derive(Debug)]
pub struct Input {
    /// How messages and errors name it: the path, `PATH#N` for mbox message N, `-` for stdin.
    pub name: String,
    /// Where its bytes are.
    pub content: Content,
    /// Whether it was read from stdin.
    pub stdin: bool,
    /// How many bytes of the walked files it accounts for (the file's size; for an mbox
    /// message the lines it was split from): progress is measured in these.
    pub walked_bytes: u64,
}

/// Where an input's bytes are.
#[derive(Debug)]
pub enum Content {
    /// A regular file, read (or streamed) by the consumer.
    File(PathBuf),
    /// Bytes already read: an mbox message or stdin.
    Bytes(Vec<u8>),
}

/// Files at least this large are streamed from disk instead of read into memory.
const STREAM_FROM_BYTES: u64 = 8 * 1024 * 1024;

/// An input ready to read: small ones as bytes, large files as a buffered seekable reader.
pub enum Opened<'a> {
    /// The whole input in memory.
    Bytes(Cow<'a, [u8]>),
    /// A large file, to be streamed.
    Stream(BufReader<File>),
}

impl Input {
    /// Opens the input; large files are not read here but handed over as a reader.
    pub fn open(&self) -> io::Result<Opened<'_>> {
        match &self.content {
            Content::Bytes(bytes) => Ok(Opened::Bytes(Cow::Borrowed(bytes))),
            Content::File(path) => {
                let mut file = File::open(path)?;
                let size = file.metadata()?.len();
                if size >= STREAM_FROM_BYTES {
                    return Ok(Opened::Stream(BufReader::new(file)));
                }
                // The size was taken before reading: a file that grew since (or that reports
                // no size, as in /proc) is streamed once it turns out large. Room for the
                // size and a byte more (to see the end) lets a report be read in two calls;
                // from an empty buffer, doubling as it filled, it took about eight.
                let mut bytes =
                    Vec::with_capacity(usize::try_from(size).map_or(0, |size| size + 1));
                (&mut file)
                    .take(STREAM_FROM_BYTES)
                    .read_to_end(&mut bytes)?;
                if bytes.len() as u64 == STREAM_FROM_BYTES {
                    file.rewind()?;
                    return Ok(Opened::Stream(BufReader::new(file)));
                }
                Ok(Opened::Bytes(Cow::Owned(bytes)))
            }
        }
    }
}

/// An input that could not be read (or not whole: see [`too_large`]).
#[derive(Debug)]
pub struct InputError {
    /// The input's name, as for [`Input::name`].
    pub name: String,
    /// Why.
    pub error: io::Error,
    /// The bytes of the walked files it stands for, as for [`Input::walked_bytes`].
    pub walked_bytes: u64,
}

/// Why an mbox message or stdin over `limit` bytes (`limits.max_message_mib`) is not read:
/// as an error of kind [`io::ErrorKind::FileTooLarge`], it is reported like any input that
/// could not be read ("cannot read: message over the size limit of 32 MiB …").
pub fn too_large(limit: u64) -> io::Error {
    let limit = if limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    };
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("message over the size limit of {limit} (limits.max_message_mib)"),
    )
}

const MIB: u64 = 1024 * 1024;

/// Calls `on_input` for every input under `paths`, in order. An unreadable path, or an mbox
/// message or stdin over `max_message_bytes`, is handed over as an `Err` and the walk goes
/// on; an `Err` from `on_input` stops it.
pub fn for_each_input(
    paths: &[PathBuf],
    max_message_bytes: u64,
    on_input: &mut dyn FnMut(Result<Input, InputError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    walk(paths, &mut |walked| match walked {
        Walked::Stdin => read_stdin(max_message_bytes, on_input),
        Walked::File { path, size } => read_file(path, size, max_message_bytes, on_input),
        Walked::Failed { path, error } => on_input(Err(InputError {
            name: display(path),
            error,
            walked_bytes: 0,
        })),
    })
}

/// The total size of the files [`for_each_input`] would read from `paths`, found without
/// reading them; `None` when stdin is among the paths (its size is not known up front).
/// Paths that cannot be read count as empty: the walk itself names them.
pub fn total_bytes(paths: &[PathBuf]) -> Option<u64> {
    let mut total = 0u64;
    let mut reads_stdin = false;
    let walked = walk(paths, &mut |walked| {
        match walked {
            Walked::Stdin => reads_stdin = true,
            Walked::File { size, .. } => total = total.saturating_add(size),
            Walked::Failed { .. } => {}
        }
        Ok(())
    });
    (walked.is_ok() && !reads_stdin).then_some(total)
}

/// What the walk finds, before any file is opened.
enum Walked<'a> {
    /// `-` on the command line.
    Stdin,
    /// A regular file and its size.
    File { path: &'a Path, size: u64 },
    /// A path that cannot be read, or is neither a regular file nor a directory.
    Failed { path: &'a Path, error: io::Error },
}

/// The walk shared by [`for_each_input`] and [`total_bytes`]: the order and the rules
/// (hidden entries, Maildir, links) described in the module documentation.
fn walk(
    paths: &[PathBuf],
    on_walked: &mut dyn FnMut(Walked<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for path in paths {
        if path.as_os_str() == "-" {
            on_walked(Walked::Stdin)?;
        } else {
            visit_path(path, on_walked)?;
        }
    }
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Stdin: an mbox is split as it streams in; anything else is one input, read up to
/// `max_message_bytes` and refused past it (the rest is left unread).
fn read_stdin(
    max_message_bytes: u64,
    on_input: &mut dyn FnMut(Result<Input, InputError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let failed = |error| {
        Err(InputError {
            name: "-".to_owned(),
            error,
            walked_bytes: 0,
        })
    };
    let mut stdin = io::stdin().lock();
    let mut head = Vec::with_capacity(MBOX_SEPARATOR.len());
    if let Err(error) = (&mut stdin)
        .take(MBOX_SEPARATOR.len() as u64)
        .read_to_end(&mut head)
    {
        return on_input(failed(error));
    }
    let stdin = io::Cursor::new(head).chain(stdin);
    if stdin.get_ref().0.get_ref() == MBOX_SEPARATOR {
        return split_mbox(
            BufReader::new(stdin),
            "-",
            true,
            max_message_bytes,
            on_input,
        );
    }
    let mut bytes = Vec::new();
    if let Err(error) = stdin
        .take(max_message_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return on_input(failed(error));
    }
    if bytes.len() as u64 > max_message_bytes {
        return on_input(failed(too_large(max_message_bytes)));
    }
    on_input(Ok(Input {
        name: "-".to_owned(),
        walked_bytes: bytes.len() as u64,
        content: Content::Bytes(bytes),
        stdin: true,
    }))
}

/// A regular file: split into messages when it is an mbox, else one input.
fn read_file(
    path: &Path,
    size: u64,
    max_message_bytes: u64,
    on_input: &mut dyn FnMut(Result<Input, InputError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let failed = |error| {
        Err(InputError {
            name: display(path),
            error,
            walked_bytes: size,
        })
    };
    match starts_with_mbox_separator(path) {
        Ok(true) => match File::open(path) {
            Ok(file) => split_mbox(
                BufReader::new(file),
                &display(path),
                false,
                max_message_bytes,
                on_input,
            ),
            Err(error) => on_input(failed(error)),
        },
        Ok(false) => on_input(Ok(Input {
            name: display(path),
            content: Content::File(path.to_owned()),
            stdin: false,
            walked_bytes: size,
        })),
        Err(error) => on_input(failed(error)),
    }
}

fn visit_path(
    path: &Path,
    on_walked: &mut dyn FnMut(Walked<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return on_walked(Walked::Failed { path, error }),
    };
    if metadata.is_dir() {
        visit_directory(path, on_walked)
    } else if metadata.is_file() {
        on_walked(Walked::File {
            path,
            size: metadata.len(),
        })
    } else {
        on_walked(Walked::Failed {
            path,
            error: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file or directory",
            ),
        })
    }
}

fn visit_directory(
    dir: &Path,
    on_walked: &mut dyn FnMut(Walked<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    visit_directory_in_passes(dir, NAMES_PER_PASS, on_walked)
}

/// Entry names of a directory held at once by the walk. A directory of 200,000 reports held
/// all its names, about 70 bytes each: 14 MB of an ingest's 64 MiB. It is read in passes
/// instead, each keeping the next `NAMES_PER_PASS` names in byte order (about 1 MiB).
const NAMES_PER_PASS: usize = 16_384;

/// [`visit_directory`], reading the directory once per `names_per_pass` entries. An entry
/// created during the walk with a name before the last one visited waits for the next run,
/// as it would have with one pass.
fn visit_directory_in_passes(
    dir: &Path,
    names_per_pass: usize,
    on_walked: &mut dyn FnMut(Walked<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // A Maildir: `cur` and `new`, in that order, and nothing else.
    if ["cur", "new"].iter().all(|sub| dir.join(sub).is_dir()) {
        for sub in ["cur", "new"] {
            visit_entry(&dir.join(sub), on_walked)?;
        }
        return Ok(());
    }
    let mut after: Option<std::ffi::OsString> = None;
    loop {
        let names = match read_dir_names(dir, after.as_deref(), names_per_pass) {
            Ok(names) => names,
            Err(error) => return on_walked(Walked::Failed { path: dir, error }),
        };
        let last_pass = names.len() < names_per_pass;
        after = names.last().cloned();
        for name in names {
            visit_entry(&dir.join(name), on_walked)?;
        }
        if last_pass || after.is_none() {
            return Ok(());
        }
    }
}

/// One entry of a directory being walked.
fn visit_entry(
    path: &Path,
    on_walked: &mut dyn FnMut(Walked<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // A link to a directory is not followed while walking: a link to an ancestor would make
    // the walk endless. Links to files are read; a linked directory named on the command
    // line is walked.
    let is_link = fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink());
    if is_link && path.is_dir() {
        return Ok(());
    }
    visit_path(path, on_walked)
}

/// The first `limit` entry names of `dir` after `after` in byte order, without hidden ones,
/// sorted by bytes.
fn read_dir_names(
    dir: &Path,
    after: Option<&std::ffi::OsStr>,
    limit: usize,
) -> io::Result<Vec<std::ffi::OsString>> {
    let bytes = |name: &std::ffi::OsStr| name.as_encoded_bytes().to_vec();
    let after = after.map(bytes);
    // The `limit` smallest names seen so far; the largest of them on top.
    let mut smallest = std::collections::BinaryHeap::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let key = name.as_encoded_bytes();
        if key.starts_with(b".") || after.as_deref().is_some_and(|after| key <= after) {
            continue;
        }
        if smallest.len() == limit {
            match smallest.peek() {
                Some(NameByBytes(largest)) if key < largest.as_encoded_bytes() => {
                    smallest.pop();
                }
                _ => continue,
            }
        }
        smallest.push(NameByBytes(name));
    }
    Ok(smallest
        .into_sorted_vec()
        .into_iter()
        .map(|NameByBytes(name)| name)
        .collect())
}

/// An entry name ordered by its bytes.
#[derive(PartialEq, Eq)]
struct NameByBytes(std::ffi::OsString);

impl Ord for NameByBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_encoded_bytes().cmp(other.0.as_encoded_bytes())
    }
}

impl PartialOrd for NameByBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

const MBOX_SEPARATOR: &[u8] = b"From ";

fn starts_with_mbox_separator(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; MBOX_SEPARATOR.len()];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(&head[..filled] == MBOX_SEPARATOR)
}

/// Lines are read in pieces of at most this many bytes, so that a line without end cannot
/// take memory (in a message, a long line is still kept whole, within the message cap).
const LINE_PIECE_BYTES: u64 = 64 * 1024;

/// The mbox message being read.
enum Message {
    /// Its bytes so far.
    Collecting(Vec<u8>),
    /// It went past the message cap: its bytes are dropped and the rest is skipped.
    TooLarge,
}

/// Splits an mbox into messages named `name#N`. A `From ` line starts a message when it is
/// the first line or follows an empty line; the empty line before it belongs to the format,
/// not to the message. A message over `max_message_bytes` is handed over as
/// an error ([`too_large`]), having held no more than the cap in memory.
fn split_mbox(
    mut reader: impl BufRead,
    name: &str,
    stdin: bool,
    max_message_bytes: u64,
    on_input: &mut dyn FnMut(Result<Input, InputError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut number = 0usize;
    let mut message: Option<Message> = None;
    let mut previous_was_empty = true;
    let mut piece = Vec::new();
    // Whether `piece` starts a line, and whether the line it continues is a `From ` line.
    let mut at_line_start = true;
    let mut in_separator = false;
    // Bytes read since the current message's `From ` line, that line included.
    let mut walked_bytes = 0u64;
    let finished = |number: usize, message: Message, walked_bytes: u64| {
        let name = format!("{name}#{number}");
        let refused = || {
            Err(InputError {
                name: name.clone(),
                error: too_large(max_message_bytes),
                walked_bytes,
            })
        };
        match message {
            Message::Collecting(bytes) => {
                let bytes = without_final_line_break(bytes);
                if bytes.len() as u64 > max_message_bytes {
                    return refused();
                }
                Ok(Input {
                    name,
                    content: Content::Bytes(bytes),
                    stdin,
                    walked_bytes,
                })
            }
            Message::TooLarge => refused(),
        }
    };
    loop {
        piece.clear();
        let read = match (&mut reader)
            .take(LINE_PIECE_BYTES)
            .read_until(b'\n', &mut piece)
        {
            Ok(read) => read,
            Err(error) => {
                return on_input(Err(InputError {
                    name: format!("{name}#{}", number + 1),
                    error,
                    walked_bytes,
                }));
            }
        };
        if read == 0 {
            break;
        }
        let line_start = std::mem::replace(&mut at_line_start, piece.ends_with(b"\n"));
        if line_start {
            in_separator = previous_was_empty && piece.starts_with(MBOX_SEPARATOR);
            if in_separator {
                if let Some(done) = message.take() {
                    on_input(finished(number, done, walked_bytes))?;
                }
                walked_bytes = 0;
                number += 1;
                message = Some(Message::Collecting(Vec::new()));
            }
        }
        walked_bytes += read as u64;
        previous_was_empty = line_start && (piece == b"\n" || piece == b"\r\n");
        if in_separator {
            continue;
        }
        let line = if line_start {
            unescape_from_line(&piece)
        } else {
            &piece[..]
        };
        if let Some(Message::Collecting(bytes)) = &mut message {
            // Two bytes more than the cap: the line break before the next `From ` line is
            // not part of the message.
            if (bytes.len() + line.len()) as u64 > max_message_bytes.saturating_add(2) {
                message = Some(Message::TooLarge);
            } else {
                bytes.extend_from_slice(line);
            }
        }
    }
    if let Some(done) = message.take() {
        on_input(finished(number, done, walked_bytes))?;
    }
    Ok(())
}

/// The line break before the next `From ` line is part of the separator.
fn without_final_line_break(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    bytes
}

/// mboxrd: `>From `, `>>From `… lose one `>`.
fn unescape_from_line(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&byte| byte == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(MBOX_SEPARATOR) {
        &line[1..]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of an mbox, checking that they account for all of its bytes.
    fn split(text: &str) -> Vec<(String, String)> {
        split_capped(text, u64::MAX)
            .into_iter()
            .map(|(name, message)| (name, message.unwrap()))
            .collect()
    }

    /// The messages of an mbox split with a message cap: each message's text, or the problem.
    fn split_capped(text: &str, max_message_bytes: u64) -> Vec<(String, Result<String, String>)> {
        let mut out = Vec::new();
        let mut walked_bytes = 0;
        split_mbox(
            io::Cursor::new(text.as_bytes()),
            "box",
            false,
            max_message_bytes,
            &mut |input| {
                match input {
                    Ok(input) => {
                        walked_bytes += input.walked_bytes;
                        let Content::Bytes(bytes) = input.content else {
                            panic!("mbox messages are bytes")
                        };
                        out.push((input.name, Ok(String::from_utf8(bytes).unwrap())));
                    }
                    Err(failure) => {
                        walked_bytes += failure.walked_bytes;
                        out.push((failure.name, Err(failure.error.to_string())));
                    }
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(walked_bytes, text.len() as u64);
        out
    }

    #[test]
    fn mbox_messages_over_the_cap_are_refused_and_the_others_kept() {
        let long = "x".repeat(3 * LINE_PIECE_BYTES as usize);
        let text = format!(
            "From a\nSubject: one\n\n{long}\n\nFrom b\nSubject: two\n\n{long}\n\nFrom c {long}\nshort\n"
        );
        let messages = split_capped(&text, 4 * LINE_PIECE_BYTES);
        assert_eq!(
            messages,
            [
                ("box#1".to_owned(), Ok(format!("Subject: one\n\n{long}\n"))),
                ("box#2".to_owned(), Ok(format!("Subject: two\n\n{long}\n"))),
                ("box#3".to_owned(), Ok("short".to_owned())),
            ],
            "long lines are kept whole; a long `From ` line is the separator"
        );
        let refused = "message over the size limit of 131072 bytes (limits.max_message_mib)";
        let messages = split_capped(&text, 2 * LINE_PIECE_BYTES);
        let problems: Vec<_> = messages
            .iter()
            .map(|(name, m)| (name.as_str(), m.as_ref().err().map(String::as_str)))
            .collect();
        assert_eq!(
            problems,
            [
                ("box#1", Some(refused)),
                ("box#2", Some(refused)),
                ("box#3", None)
            ]
        );
        // Exactly at the cap is accepted; the line break before the next message is not counted.
        let exact = split_capped("From a\n12345\n\nFrom b\n123456\n", 6);
        assert_eq!(exact[0].1, Ok("12345\n".to_owned()));
        assert_eq!(exact[1].1, Ok("123456".to_owned()));
        let over = split_capped("From a\n1234567\n", 6);
        assert!(over[0].1.is_err(), "{over:?}");
        assert_eq!(
            too_large(32 * MIB).to_string(),
            "message over the size limit of 32 MiB (limits.max_message_mib)"
        );
    }

    #[test]
    fn mbox_is_split_on_from_lines_after_empty_lines() {
        let messages = split(
            "From a@example.net Mon Nov 16 00:00:00 2026\nSubject: one\n\nbody\nFrom here on, not a separator\n\nFrom b@example.net Tue Nov 17 00:00:00 2026\nSubject: two\n\n>From escaped\n>>From twice\n",
        );
        assert_eq!(
            messages,
            vec![
                (
                    "box#1".to_owned(),
                    "Subject: one\n\nbody\nFrom here on, not a separator\n".to_owned()
                ),
                (
                    "box#2".to_owned(),
                    "Subject: two\n\nFrom escaped\n>From twice".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn walk_is_sorted_skips_hidden_and_tmp_and_linked_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (name, size) in [
            ("b.xml", 1),
            ("a/z.xml", 20),
            ("a/.hidden.xml", 300),
            ("md/cur/1", 4000),
            ("md/new/2", 50_000),
            ("md/tmp/3", 600_000),
            ("md/other/4", 7_000_000),
        ] {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, vec![b'x'; size]).unwrap();
        }
        std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("b.xml"), root.join("c.xml")).unwrap();
        let mut names = Vec::new();
        let mut walked_bytes = 0;
        for_each_input(&[root.to_owned()], u64::MAX, &mut |input| {
            let input = input.unwrap();
            walked_bytes += input.walked_bytes;
            names.push(input.name);
            Ok(())
        })
        .unwrap();
        // The link c.xml → b.xml is read (and counted) twice, like any file named twice.
        assert_eq!(walked_bytes, 1 + 20 + 1 + 4000 + 50_000);
        assert_eq!(total_bytes(&[root.to_owned()]), Some(walked_bytes));
        assert_eq!(total_bytes(&[root.to_owned(), "-".into()]), None);
        let prefix = format!("{}/", root.display());
        let names: Vec<&str> = names
            .iter()
            .map(|name| name.strip_prefix(&prefix).unwrap())
            .collect();
        assert_eq!(names, ["a/z.xml", "b.xml", "c.xml", "md/cur/1", "md/new/2"]);
    }

    #[test]
    fn a_directory_read_in_passes_is_walked_as_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Names whose byte order differs from their creation order, a hidden one, and a
        // subdirectory in the middle.
        let mut created = Vec::new();
        for n in [7, 3, 11, 0, 9, 1, 5, 10, 2, 8, 4, 6] {
            let name = format!("r{n:02}.xml");
            fs::write(root.join(&name), b"x").unwrap();
            created.push(name);
        }
        fs::write(root.join(".hidden.xml"), b"x").unwrap();
        fs::create_dir(root.join("r05.d")).unwrap();
        fs::write(root.join("r05.d/inner.xml"), b"x").unwrap();
        let walked = |names_per_pass| {
            let mut paths = Vec::new();
            visit_directory_in_passes(root, names_per_pass, &mut |walked| {
                match walked {
                    Walked::File { path, .. } => paths.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    ),
                    _ => panic!("only files here"),
                }
                Ok(())
            })
            .unwrap();
            paths
        };
        let mut expected = created;
        expected.push("r05.d/inner.xml".to_owned());
        expected.sort();
        assert_eq!(walked(usize::MAX), expected);
        for names_per_pass in [1, 2, 3, 5, 13, 14] {
            assert_eq!(
                walked(names_per_pass),
                expected,
                "{names_per_pass} per pass"
            );
        }
    }

    #[test]
    fn a_file_larger_than_its_size_said_is_streamed() {
        // /proc files report a size of 0; this one holds 8 bytes per page of address space.
        let path = Path::new("/proc/self/pagemap");
        if File::open(path).is_err() {
            eprintln!("SKIPPED: {} cannot be read here", path.display());
            return;
        }
        let input = Input {
            name: display(path),
            content: Content::File(path.to_owned()),
            stdin: false,
            walked_bytes: 0,
        };
        assert!(matches!(input.open().unwrap(), Opened::Stream(_)));
    }

    #[test]
    fn crlf_mbox_is_split() {
        let messages = split("From x\r\nA: 1\r\n\r\nFrom y\r\nB: 2\r\n");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].1, "A: 1\r\n");
        assert_eq!(messages[1].1, "B: 2");
    }
}
