//! The original input bytes, kept in `raw_inputs` so that `reparse` can rebuild everything
//! with a newer parser.
//!
//! Inputs are compressed as they are read and written in chunks of about [`CHUNK_BYTES`], so
//! neither storing nor reading back holds a whole input in memory. The encoding is
//! independent of the database ([`ChunkEncoder`]) so that the parser thread can compress while
//! the batch thread writes ([`ChunkInserter`]).

use crate::StoreError;
use flate2::{Compress, Compression, FlushCompress, Status};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes per `raw_inputs` row (compressed; exactly this for every chunk but the last of an
/// input kept as received, which [`SeekableRaw`] relies on).
const CHUNK_BYTES: usize = 1 << 20;

/// How a message's bytes are kept (`messages.raw_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawEncoding {
    /// Compressed by ruadb.
    Zlib,
    /// As received: the input is a gzip or zip archive, which deflate cannot shrink.
    Identity,
}

impl RawEncoding {
    /// Chooses from the first bytes of the input.
    pub(crate) fn for_input(start: &[u8]) -> RawEncoding {
        if start.starts_with(&[0x1f, 0x8b]) || start.starts_with(b"PK\x03\x04") {
            RawEncoding::Identity
        } else {
            RawEncoding::Zlib
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RawEncoding::Zlib => "zlib",
            RawEncoding::Identity => "identity",
        }
    }

    pub(crate) fn from_db(value: &str) -> RawEncoding {
        if value == "identity" {
            RawEncoding::Identity
        } else {
            RawEncoding::Zlib
        }
    }
}

/// A reusable zlib compressor with its output buffer.
///
/// Setting up a deflate state costs more than compressing a typical report, so one is kept
/// per thread and reset per input.
pub(crate) struct Compressor {
    state: Compress,
    output: Vec<u8>,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor {
            // Level 1: reports usually arrive already deflated, so a higher level would spend
            // time for almost nothing.
            state: Compress::new(Compression::fast(), true),
            output: Vec::new(),
        }
    }
}

/// zlib refused to compress (an internal error; never seen in practice).
#[derive(Debug)]
pub(crate) struct CompressionFailed(String);

impl From<CompressionFailed> for io::Error {
    fn from(error: CompressionFailed) -> Self {
        io::Error::other(error.0)
    }
}

impl From<CompressionFailed> for StoreError {
    fn from(error: CompressionFailed) -> Self {
        StoreError::Compression(error.0)
    }
}

/// Turns one input's bytes into chunks in the given encoding; `emit` receives each chunk.
pub(crate) struct ChunkEncoder<'z> {
    encoding: RawEncoding,
    compressor: &'z mut Compressor,
}

impl<'z> ChunkEncoder<'z> {
    pub(crate) fn new(encoding: RawEncoding, compressor: &'z mut Compressor) -> Self {
        // Resetting clears the deflate window and hash tables, which costs more than copying
        // a typical archive: only done when compressing.
        if encoding == RawEncoding::Zlib {
            compressor.state.reset();
        }
        compressor.output.clear();
        ChunkEncoder {
            encoding,
            compressor,
        }
    }

    /// Makes room for the compressor to write: it only writes into spare capacity.
    fn reserve(&mut self) {
        let output = &mut self.compressor.output;
        if output.capacity() - output.len() < 16 * 1024 {
            output.reserve(64 * 1024);
        }
    }

    fn emit<E>(&mut self, emit: &mut dyn FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let result = emit(&self.compressor.output);
        self.compressor.output.clear();
        result
    }

    pub(crate) fn write_all<E: From<CompressionFailed>>(
        &mut self,
        mut bytes: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            if self.encoding == RawEncoding::Identity {
                let room = CHUNK_BYTES - self.compressor.output.len();
                let (piece, rest) = bytes.split_at(room.min(bytes.len()));
                self.compressor.output.extend_from_slice(piece);
                bytes = rest;
            } else {
                self.reserve();
                let before = self.compressor.state.total_in();
                self.compressor
                    .state
                    .compress_vec(bytes, &mut self.compressor.output, FlushCompress::None)
                    .map_err(|error| CompressionFailed(error.to_string()))?;
                let consumed = (self.compressor.state.total_in() - before) as usize;
                bytes = &bytes[consumed..];
            }
            if self.compressor.output.len() >= CHUNK_BYTES {
                self.emit(emit)?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish<E: From<CompressionFailed>>(
        mut self,
        emit: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while self.encoding == RawEncoding::Zlib {
            self.reserve();
            let status = self
                .compressor
                .state
                .compress_vec(&[], &mut self.compressor.output, FlushCompress::Finish)
                .map_err(|error| CompressionFailed(error.to_string()))?;
            if status == Status::StreamEnd {
                break;
            }
            if self.compressor.output.len() >= CHUNK_BYTES {
                self.emit(emit)?;
            }
        }
        self.emit(emit)
    }
}

/// Inserts one message's chunks, numbering them.
pub(crate) struct ChunkInserter<'c> {
    connection: &'c Connection,
    message_id: i64,
    seq: i64,
}

impl<'c> ChunkInserter<'c> {
    pub(crate) fn new(connection: &'c Connection, message_id: i64) -> Self {
        ChunkInserter {
            connection,
            message_id,
            seq: 0,
        }
    }

    pub(crate) fn insert(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.connection
            .prepare_cached("INSERT INTO raw_inputs (message_id, seq, data) VALUES (?1, ?2, ?3)")?
            .execute(params![self.message_id, self.seq, chunk])?;
        self.seq += 1;
        Ok(())
    }
}

/// Reads back the original bytes of one message, chunk by chunk.
pub(crate) enum RawReader<'c> {
    Zlib(flate2::read::ZlibDecoder<ChunkReader<'c>>),
    Identity(ChunkReader<'c>),
}

impl<'c> RawReader<'c> {
    pub(crate) fn new(connection: &'c Connection, message_id: i64, encoding: RawEncoding) -> Self {
        let chunks = ChunkReader {
            connection,
            message_id,
            next_seq: 0,
            chunk: Vec::new(),
            position: 0,
            skip: 0,
            done: false,
        };
        match encoding {
            RawEncoding::Zlib => RawReader::Zlib(flate2::read::ZlibDecoder::new(chunks)),
            RawEncoding::Identity => RawReader::Identity(chunks),
        }
    }
}

impl Read for RawReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RawReader::Zlib(decoder) => decoder.read(buf),
            RawReader::Identity(chunks) => chunks.read(buf),
        }
    }
}

/// A message's original bytes as a seekable reader, for re-parsing a large input without
/// holding it in memory. Bytes kept as received are addressed directly (every chunk but the
/// last is exactly [`CHUNK_BYTES`] long); compressed ones are decompressed again from the
/// start on a backward seek, which the parser only does for archives (kept as received).
pub(crate) struct SeekableRaw<'c> {
    connection: &'c Connection,
    message_id: i64,
    encoding: RawEncoding,
    size: u64,
    position: u64,
    reader: RawReader<'c>,
}

impl<'c> SeekableRaw<'c> {
    pub(crate) fn new(
        connection: &'c Connection,
        message_id: i64,
        encoding: RawEncoding,
        size: u64,
    ) -> Self {
        SeekableRaw {
            connection,
            message_id,
            encoding,
            size,
            position: 0,
            reader: RawReader::new(connection, message_id, encoding),
        }
    }
}

impl Read for SeekableRaw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for SeekableRaw<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if let RawReader::Identity(chunks) = &mut self.reader {
            chunks.jump(target);
            self.position = target;
            return Ok(target);
        }
        if target < self.position {
            self.reader = RawReader::new(self.connection, self.message_id, self.encoding);
            self.position = 0;
        }
        let mut rest = target - self.position;
        let mut discard = [0u8; 8192];
        while rest > 0 {
            let n = self.read(&mut discard[..rest.min(8192) as usize])?;
            if n == 0 {
                break;
            }
            rest -= n as u64;
        }
        // Past the end, like a file: reads there return nothing.
        self.position = target;
        Ok(target)
    }
}

/// The concatenated chunks of one message.
pub(crate) struct ChunkReader<'c> {
    connection: &'c Connection,
    message_id: i64,
    next_seq: i64,
    chunk: Vec<u8>,
    position: usize,
    /// Bytes to skip in the next chunk loaded (after a jump).
    skip: usize,
    done: bool,
}

impl ChunkReader<'_> {
    /// Moves to byte `offset` of the concatenated chunks (all but the last [`CHUNK_BYTES`] long).
    fn jump(&mut self, offset: u64) {
        self.next_seq = i64::try_from(offset / CHUNK_BYTES as u64).unwrap_or(i64::MAX);
        self.skip = (offset % CHUNK_BYTES as u64) as usize;
        self.chunk.clear();
        self.position = 0;
        self.done = false;
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.chunk.len() && !self.done {
            let next: Option<Vec<u8>> = self
                .connection
                .prepare_cached("SELECT data FROM raw_inputs WHERE message_id = ?1 AND seq = ?2")
                .and_then(|mut statement| {
                    let mut rows = statement.query(params![self.message_id, self.next_seq])?;
                    rows.next()?.map(|row| row.get(0)).transpose()
                })
                .map_err(io::Error::other)?;
            match next {
                Some(chunk) => {
                    self.position = self.skip.min(chunk.len());
                    self.skip = 0;
                    self.chunk = chunk;
                    self.next_seq += 1;
                }
                None => self.done = true,
            }
        }
        let available = &self.chunk[self.position..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

/// The sha256, size and raw encoding (chosen from the first bytes) of a reader's content.
pub(crate) fn hash_reader<R: Read + Seek>(
    reader: &mut R,
) -> io::Result<([u8; 32], u64, RawEncoding)> {
    reader.rewind()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut size = 0u64;
    let mut start = [0u8; 4];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // The first bytes decide the encoding; a short first read is topped up from the next.
        if size < start.len() as u64 {
            let have = size as usize;
            let take = (start.len() - have).min(n);
            start[have..have + take].copy_from_slice(&buffer[..take]);
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    reader.rewind()?;
    let start = &start[..(size as usize).min(start.len())];
    Ok((
        hasher.finalize().into(),
        size,
        RawEncoding::for_input(start),
    ))
}

/// Why copying an input into the raw store stopped.
pub(crate) enum CopyError {
    /// Reading the input failed: a bad input, not a database failure.
    Read(io::Error),
    /// Storing failed.
    Store(StoreError),
}

impl From<StoreError> for CopyError {
    fn from(error: StoreError) -> Self {
        CopyError::Store(error)
    }
}

impl From<CompressionFailed> for CopyError {
    fn from(error: CompressionFailed) -> Self {
        CopyError::Store(error.into())
    }
}

/// Copies the reader into the raw store through `encoder`.
pub(crate) fn copy_into<R: Read>(
    reader: &mut R,
    encoder: &mut ChunkEncoder<'_>,
    insert: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), CopyError> {
    let mut buffer = vec![0; 64 * 1024];
    let mut insert = |chunk: &[u8]| insert(chunk).map_err(CopyError::Store);
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyError::Read(error)),
        };
        encoder.write_all(&buffer[..n], &mut insert)?;
    }
}
