//! The original input bytes, kept zlib-compressed in `raw_inputs` so that `reparse` can rebuild
//! everything with a newer parser.
//!
//! Large inputs are compressed as they are read and written in chunks of about
//! [`CHUNK_BYTES`], so neither storing nor reading back holds a whole input in memory.

use crate::StoreError;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use rusqlite::{Connection, params};
use std::io::{self, Read, Write};

/// Compressed bytes per `raw_inputs` row.
const CHUNK_BYTES: usize = 1 << 20;

const INSERT_CHUNK: &str = "INSERT INTO raw_inputs (message_id, seq, data) VALUES (?1, ?2, ?3)";

/// Compresses everything written to it into `raw_inputs` rows of one message.
pub(crate) struct RawWriter<'c> {
    connection: &'c Connection,
    message_id: i64,
    seq: i64,
    encoder: ZlibEncoder<Vec<u8>>,
}

impl<'c> RawWriter<'c> {
    pub(crate) fn new(connection: &'c Connection, message_id: i64) -> Self {
        RawWriter {
            connection,
            message_id,
            seq: 0,
            // Level 1: reports usually arrive already deflated, so a higher level would spend
            // time for almost nothing.
            encoder: ZlibEncoder::new(Vec::new(), Compression::fast()),
        }
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        for piece in bytes.chunks(64 * 1024) {
            self.encoder.write_all(piece)?;
            if self.encoder.get_ref().len() >= CHUNK_BYTES {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), StoreError> {
        let buffer = self.encoder.get_mut();
        self.connection
            .prepare_cached(INSERT_CHUNK)?
            .execute(params![self.message_id, self.seq, &buffer[..]])?;
        buffer.clear();
        self.seq += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        self.encoder.try_finish()?;
        self.flush_chunk()
    }
}

/// Reads back the original bytes of one message, chunk by chunk.
pub(crate) struct RawReader<'c> {
    decoder: flate2::read::ZlibDecoder<ChunkReader<'c>>,
}

impl<'c> RawReader<'c> {
    pub(crate) fn new(connection: &'c Connection, message_id: i64) -> Self {
        RawReader {
            decoder: flate2::read::ZlibDecoder::new(ChunkReader {
                connection,
                message_id,
                next_seq: 0,
                chunk: Vec::new(),
                position: 0,
                done: false,
            }),
        }
    }
}

impl Read for RawReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf)
    }
}

/// The concatenated compressed chunks of one message.
struct ChunkReader<'c> {
    connection: &'c Connection,
    message_id: i64,
    next_seq: i64,
    chunk: Vec<u8>,
    position: usize,
    done: bool,
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
                    self.chunk = chunk;
                    self.position = 0;
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
