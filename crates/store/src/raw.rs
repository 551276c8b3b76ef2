//! The original input bytes, kept zlib-compressed in `raw_inputs` so that `reparse` can rebuild
//! everything with a newer parser.
//!
//! Large inputs are compressed as they are read and written in chunks of about
//! [`CHUNK_BYTES`], so neither storing nor reading back holds a whole input in memory.

use crate::StoreError;
use flate2::{Compress, Compression, FlushCompress, Status};
use rusqlite::{Connection, params};
use std::io::{self, Read, Seek, SeekFrom};

/// Compressed bytes per `raw_inputs` row.
const CHUNK_BYTES: usize = 1 << 20;

const INSERT_CHUNK: &str = "INSERT INTO raw_inputs (message_id, seq, data) VALUES (?1, ?2, ?3)";

/// Compresses everything written to it into `raw_inputs` rows of one message.
///
/// The compressor and buffer belong to the batch and are reused for every message: setting
/// up a deflate state costs more than compressing a typical report.
pub(crate) struct RawWriter<'c, 'z> {
    connection: &'c Connection,
    message_id: i64,
    seq: i64,
    encoding: RawEncoding,
    compressor: &'z mut Compressor,
}

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

impl<'c, 'z> RawWriter<'c, 'z> {
    pub(crate) fn new(
        connection: &'c Connection,
        message_id: i64,
        encoding: RawEncoding,
        compressor: &'z mut Compressor,
    ) -> Self {
        compressor.state.reset();
        compressor.output.clear();
        RawWriter {
            connection,
            message_id,
            seq: 0,
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

    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        if self.encoding == RawEncoding::Identity {
            while !bytes.is_empty() {
                let room = CHUNK_BYTES - self.compressor.output.len();
                let (piece, rest) = bytes.split_at(room.min(bytes.len()));
                self.compressor.output.extend_from_slice(piece);
                bytes = rest;
                if self.compressor.output.len() >= CHUNK_BYTES {
                    self.flush_chunk()?;
                }
            }
            return Ok(());
        }
        while !bytes.is_empty() {
            self.reserve();
            let before = self.compressor.state.total_in();
            self.compressor
                .state
                .compress_vec(bytes, &mut self.compressor.output, FlushCompress::None)
                .map_err(io::Error::other)?;
            let consumed = (self.compressor.state.total_in() - before) as usize;
            bytes = &bytes[consumed..];
            if self.compressor.output.len() >= CHUNK_BYTES {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(INSERT_CHUNK)?
            .execute(params![
                self.message_id,
                self.seq,
                &self.compressor.output[..]
            ])?;
        self.compressor.output.clear();
        self.seq += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        while self.encoding == RawEncoding::Zlib {
            self.reserve();
            let status = self
                .compressor
                .state
                .compress_vec(&[], &mut self.compressor.output, FlushCompress::Finish)
                .map_err(io::Error::other)?;
            if status == Status::StreamEnd {
                break;
            }
            if self.compressor.output.len() >= CHUNK_BYTES {
                self.flush_chunk()?;
            }
        }
        self.flush_chunk()
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
