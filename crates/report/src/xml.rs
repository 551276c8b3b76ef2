//! The streaming aggregate-report parser (to be written).
use crate::{Limits, Sink};
use std::io::BufRead;
use std::ops::ControlFlow;

/// Parses one XML document and feeds `sink`.
pub(crate) fn parse_document(
    _reader: impl BufRead,
    _member: Option<&str>,
    _limits: &Limits,
    _sink: &mut dyn Sink,
) -> ControlFlow<()> {
    ControlFlow::Continue(())
}
