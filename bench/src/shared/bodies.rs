//! Request bodies shared by the bench binaries.

use std::fmt::Write as _;

/// A 1 KiB JSON document with nothing secret in it (the request body of the overhead bench's
/// POST rows, and the `json-1k` body of the redaction bench).
pub fn kib_json() -> String {
    let mut s = String::from(r#"{"items":["#);
    let mut i = 0;
    while s.len() < 1024 - 40 {
        let _ = write!(s, r#""item-{i:04}-abcdefghij","#);
        i += 1;
    }
    s.pop();
    s.push_str(r#"],"pad":""#);
    while s.len() < 1024 - 2 {
        s.push('x');
    }
    s.push_str(r#""}"#);
    debug_assert_eq!(s.len(), 1024);
    s
}
