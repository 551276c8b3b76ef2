//! Finding report attachments in an RFC 5322 message (to be written).
