//! Reading a record's text headers (the input row, a redrive's mark).

use rdkafka::message::Headers;
use rdkafka::Message;

/// The value of header `name` of `m`, when present and UTF-8.
pub fn header_text<'m, M: Message>(m: &'m M, name: &str) -> Option<&'m str> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}
