//! Writing BSON by hand, for the two places that put documents together
//! from already-encoded parts (`stored_document`, `store::command`): the
//! element types they use and the small pieces every element is made of.

pub const STRING: u8 = 0x02;
pub const DOCUMENT: u8 = 0x03;
pub const ARRAY: u8 = 0x04;
pub const BOOLEAN: u8 = 0x08;
pub const DATETIME: u8 = 0x09;
pub const NULL: u8 = 0x0A;
pub const INT32: u8 = 0x10;
pub const INT64: u8 = 0x12;

/// A key (or any C string). Callers pass constants and names without NUL.
pub fn cstring(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

/// A string element. The value may hold NUL (BSON strings carry their
/// length).
pub fn string(b: &mut Vec<u8>, key: &str, value: &str) {
    b.push(STRING);
    cstring(b, key);
    b.extend(len_i32(value.len() + 1));
    b.extend_from_slice(value.as_bytes());
    b.push(0);
}

/// Starts a document (or array) at the end of `b`: its length is filled
/// in by [`end`] with what this returns.
pub fn start(b: &mut Vec<u8>) -> usize {
    let at = b.len();
    b.extend([0; 4]);
    at
}

/// Ends the document started at `at`.
pub fn end(b: &mut Vec<u8>, at: usize) {
    b.push(0);
    let len = len_i32(b.len() - at);
    b[at..at + 4].copy_from_slice(&len);
}

/// A length as BSON writes it. What is written here stays far below 2 GiB
/// (documents of at most 16 MiB, commands of `MAX_COMMAND_BYTES`).
fn len_i32(n: usize) -> [u8; 4] {
    i32::try_from(n).unwrap_or(i32::MAX).to_le_bytes()
}
