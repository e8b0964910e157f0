//! memcached 1.6's text-protocol authentication (`-Y FILE`), reproduced
//! from 1.6.18's `authfile.c` and `try_read_command_asciiauth`
//! (`proto_text.c`).
//!
//! With an auth file, a new connection is served nothing but the
//! authentication request until it succeeds. That request is a `set`
//! whose data block is `username password`:
//!
//! ```text
//! set <any key> <any flags> <any exptime> <bytes>\r\n
//! <username> <password>\r\n
//! ```
//!
//! | input (before success)                         | reply                                         |
//! |------------------------------------------------|-----------------------------------------------|
//! | a line that is not `set` with ≥ 5 tokens and a number in the 5th | `CLIENT_ERROR unauthenticated` (the line is consumed; the data of a `set`, if any, is read as the next line) |
//! | data block not ending in `\r\n`                 | `CLIENT_ERROR bad command line termination`   |
//! | data block with fewer than two words            | `CLIENT_ERROR bad authentication token format`|
//! | a user and password in the file                 | `STORED`; the connection is then served normally |
//! | anything else                                   | `CLIENT_ERROR authentication failure`         |
//! | more than 2048 bytes without a newline          | the connection is closed                      |
//!
//! Quirks kept: memcached answers every step before success into one
//! reused reply buffer, so of the replies to one batch of pipelined input
//! only the **last** is sent (`get a\r\nversion\r\n` gets one
//! `CLIENT_ERROR unauthenticated`; a failure followed by a success in one
//! write gets `STORED` alone); input that completes later gets its own
//! reply. The key, flags and exptime are ignored, so is `noreply`
//! (the reply always comes); words are separated by spaces only; extra
//! words after the password are ignored; the length is read as memcached's
//! `safe_strtoul` reads it (`+5`, ` 5`, `5\r` are 5; a value over 32 bits
//! wraps). Passwords are compared in constant time.
//!
//! Differences: memcached keeps only the first 8 entries of the file and
//! truncates lines at 255 bytes, silently; we keep them all. memcached
//! waits for however many bytes the line announces; we close the
//! connection when that is more than the largest frame (`-I` plus a line),
//! so an unauthenticated peer cannot make us buffer more.

use std::fmt;
use std::path::Path;

use bytes::BytesMut;

/// Bytes without a newline after which an unauthenticated connection is
/// closed (memcached's 2048).
const MAX_UNAUTH_LINE: usize = 2048;

/// The parsed auth file: `user:password` lines.
#[derive(Clone)]
pub struct AuthFile {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFile")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Why an auth file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// The file cannot be read.
    #[error("Could not open authfile [{path}] for reading, error {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line has no `:` (memcached's message).
    #[error("Authfile [{path}] has a malformed entry. Should be 'user:password'")]
    Malformed {
        /// The file.
        path: String,
    },
}

impl AuthFile {
    /// Reads `path` as memcached does: one `user:password` per line, the
    /// user ends at the first `:`, the password at the end of the line
    /// (`\n`, `\r` or a NUL byte). A line without `:` (an empty line too)
    /// refuses the whole file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or has a malformed line.
    pub fn load(path: &Path) -> Result<AuthFile, AuthFileError> {
        let shown = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| AuthFileError::Open {
            path: shown.clone(),
            source,
        })?;
        AuthFile::parse(&data).ok_or(AuthFileError::Malformed { path: shown })
    }

    /// Parses the file's contents; `None` when a line is malformed.
    pub fn parse(data: &[u8]) -> Option<AuthFile> {
        let mut entries = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let (line, tail) = rest.split_at(end);
            rest = tail;
            // A NUL byte ends the line's text, as in fgets + C strings.
            let text = line.split(|&b| b == 0).next().unwrap_or_default();
            let colon = text.iter().position(|&b| b == b':')?;
            let user = &text[..colon];
            let pass = &text[colon + 1..];
            let pass_end = pass
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(pass.len());
            entries.push((user.to_vec(), pass[..pass_end].to_vec()));
        }
        Some(AuthFile { entries })
    }

    /// Whether `user`/`pass` is an entry of the file. Every entry is
    /// compared, in time independent of where the bytes differ.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let mut found = false;
        for (u, p) in &self.entries {
            found |= ct_eq(u, user) & ct_eq(p, pass);
        }
        found
    }

    /// The first entry as text (the proxy's `--backend-auth-file`).
    pub fn first(&self) -> Option<(String, String)> {
        self.entries.first().map(|(u, p)| {
            (
                String::from_utf8_lossy(u).into_owned(),
                String::from_utf8_lossy(p).into_owned(),
            )
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no entry (then nobody can authenticate).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Equality whose time depends only on the lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the connection does after one authentication step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write this reply line (with `\r\n`); `true` when authenticated now.
    Reply(&'static [u8], bool),
    /// Close the connection.
    Close,
}

pub(crate) const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
const BAD_TERMINATION: &[u8] = b"CLIENT_ERROR bad command line termination\r\n";
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad authentication token format\r\n";
const FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
const STORED: &[u8] = b"STORED\r\n";

/// One connection's authentication state (sans-IO: bytes in, steps out).
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Bytes of the data block (with its `\r\n`) still awaited.
    pending: Option<usize>,
}

impl Gate {
    /// Consumes one step of input from `rbuf`: `None` while more input is
    /// needed. `max_data` bounds the data block we wait for.
    pub(crate) fn step(
        &mut self,
        rbuf: &mut BytesMut,
        file: &AuthFile,
        max_data: usize,
    ) -> Option<Step> {
        let want = match self.pending {
            Some(want) => want,
            None => {
                if rbuf.len() < 2 {
                    return None;
                }
                let Some(nl) = rbuf.iter().position(|&b| b == b'\n') else {
                    return (rbuf.len() > MAX_UNAUTH_LINE).then_some(Step::Close);
                };
                let line = rbuf.split_to(nl + 1);
                let line = &line[..nl];
                let tokens = tokenize(line);
                let size = match tokens.as_slice() {
                    [b"set", _, _, _, size, ..] => parse_u32(size),
                    _ => None,
                };
                let Some(size) = size else {
                    return Some(Step::Reply(UNAUTHENTICATED, false));
                };
                let want = (size as usize).saturating_add(2);
                if want > max_data {
                    return Some(Step::Close);
                }
                self.pending = Some(want);
                want
            }
        };
        if rbuf.len() < want {
            return None;
        }
        self.pending = None;
        let data = rbuf.split_to(want);
        if !data.ends_with(b"\r\n") {
            return Some(Step::Reply(BAD_TERMINATION, false));
        }
        let payload = &data[..want - 2];
        // C string: the payload ends at a NUL byte.
        let payload = payload.split(|&b| b == 0).next().unwrap_or_default();
        match tokenize(payload).as_slice() {
            [user, pass, ..] => {
                if file.check(user, pass) {
                    Some(Step::Reply(STORED, true))
                } else {
                    Some(Step::Reply(FAILURE, false))
                }
            }
            _ => Some(Step::Reply(BAD_FORMAT, false)),
        }
    }
}

/// memcached's `tokenize_command`: words separated by spaces only; the
/// string ends at a NUL byte. At most 23 words (the last keeps the rest),
/// which never matters here: only the first five are looked at.
fn tokenize(line: &[u8]) -> Vec<&[u8]> {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    line.split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .take(6)
        .collect()
}

/// `safe_strtoul` on LP64: leading whitespace, one sign, digits, then the
/// end or whitespace; 64-bit, refused when it looks negative and has a
/// `-`, then truncated to 32 bits.
fn parse_u32(s: &[u8]) -> Option<u32> {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = s.iter().take_while(|&&b| space(b)).count();
    let mut negative = false;
    match s.get(i) {
        Some(b'+') => i += 1,
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        _ => {}
    }
    let start = i;
    let mut m: u64 = 0;
    while let Some(&b) = s.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        m = m.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    if i == start || !s.get(i).is_none_or(|&b| space(b)) {
        return None;
    }
    let v = if negative { m.wrapping_neg() } else { m };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> AuthFile {
        AuthFile::parse(b"alice:secret\nbob:pa:ss\r\n").expect("file")
    }

    fn run(input: &[u8]) -> (Vec<Step>, usize) {
        let mut gate = Gate::default();
        let mut buf = BytesMut::from(input);
        let mut steps = Vec::new();
        while let Some(step) = gate.step(&mut buf, &file(), 1 << 20) {
            steps.push(step);
            if matches!(step, Step::Close | Step::Reply(_, true)) {
                break;
            }
        }
        (steps, buf.len())
    }

    #[test]
    fn file_format() {
        let f = file();
        assert_eq!(f.len(), 2);
        assert!(f.check(b"alice", b"secret"));
        assert!(f.check(b"bob", b"pa:ss"));
        assert!(!f.check(b"alice", b"secre"));
        assert!(!f.check(b"bob", b"pa"));
        assert!(
            AuthFile::parse(b"alice:x\n\nbob:y\n").is_none(),
            "empty line"
        );
        assert!(AuthFile::parse(b"nocolon\n").is_none());
        assert!(AuthFile::parse(b"").expect("empty").is_empty());
        assert!(AuthFile::parse(b"a:b")
            .expect("no newline")
            .check(b"a", b"b"));
    }

    #[test]
    fn success_and_failures() {
        assert_eq!(
            run(b"set x 0 0 12\r\nalice secret\r\nget a\r\n"),
            (vec![Step::Reply(STORED, true)], 7)
        );
        assert_eq!(
            run(b"set x 0 0 11\r\nalice wrong\r\n"),
            (vec![Step::Reply(FAILURE, false)], 0)
        );
        assert_eq!(
            run(b"get a\r\nversion\r\n"),
            (vec![Step::Reply(UNAUTHENTICATED, false); 2], 0)
        );
        assert_eq!(
            run(b"set x 0 0 5\r\nalice\r\n"),
            (vec![Step::Reply(BAD_FORMAT, false)], 0)
        );
        assert_eq!(
            run(b"set x 0 0 3\r\nabcde\r\n"),
            (
                vec![
                    Step::Reply(BAD_TERMINATION, false),
                    Step::Reply(UNAUTHENTICATED, false)
                ],
                0
            )
        );
        // noreply is ignored; extra words after the password too.
        assert_eq!(
            run(b"set k 1 2 18 noreply\r\nalice secret extra\r\n"),
            (vec![Step::Reply(STORED, true)], 0)
        );
    }

    #[test]
    fn partial_input_waits() {
        let mut gate = Gate::default();
        let mut buf = BytesMut::new();
        let input = b"set x 0 0 12\r\nalice secret\r\n";
        let mut out = None;
        for &b in input {
            buf.extend_from_slice(&[b]);
            if let Some(step) = gate.step(&mut buf, &file(), 1 << 20) {
                out = Some(step);
            }
        }
        assert_eq!(out, Some(Step::Reply(STORED, true)));
        assert!(buf.is_empty());
    }

    #[test]
    fn long_line_and_huge_length_close() {
        let long = vec![b'a'; MAX_UNAUTH_LINE + 1];
        assert_eq!(run(&long).0, vec![Step::Close]);
        assert_eq!(run(&long[..MAX_UNAUTH_LINE]).0, vec![]);
        assert_eq!(run(b"set x 0 0 4000000\r\n").0, vec![Step::Close]);
    }

    #[test]
    fn lengths_read_as_memcached_does() {
        assert_eq!(parse_u32(b"5\r"), Some(5));
        assert_eq!(parse_u32(b"+5"), Some(5));
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u32(b"5x"), None);
        assert_eq!(parse_u32(b"4294967301"), Some(5));
    }
}
