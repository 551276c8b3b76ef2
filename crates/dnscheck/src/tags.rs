//! The tag-list syntax DMARC (RFC 7489 §6.4) and DKIM (RFC 6376 §3.2) records share.

/// The `tag=value` pairs of `record`, names lowercased, values trimmed, in order; or the first
/// part that is not a tag.
pub(crate) fn parse(record: &str) -> Result<Vec<(String, String)>, String> {
    let mut tags = Vec::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return Err(format!("`{part}` is not a tag=value pair"));
        };
        let name = name.trim();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(format!("`{name}` is not a tag name"));
        }
        tags.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(tags)
}
