//! Line framing and memcached's tokenizer.
//!
//! memcached finds the first `\n`, drops one `\r` before it (only when the
//! line has at least two bytes), and reads the line as a C string, so a NUL
//! byte ends it. Tokens are separated by single spaces only; runs of spaces
//! collapse, but tabs and stray `\r` are part of tokens. At most 23 tokens
//! are split off; the rest of the line is left for `get` to continue with.

use std::ops::Range;

/// memcached's `MAX_TOKENS`, counting the terminal pseudo-token.
pub(crate) const MAX_TOKENS: usize = 24;

/// The command-line content of `raw` (the bytes before `\n`).
pub(crate) fn line_content(raw: &[u8]) -> &[u8] {
    let trimmed = match raw {
        [rest @ .., b'\r'] if raw.len() > 1 => rest,
        _ => raw,
    };
    match trimmed.iter().position(|&b| b == 0) {
        Some(nul) => trimmed.get(..nul).unwrap_or(trimmed),
        None => trimmed,
    }
}

/// The first tokens of a line, as spans into it.
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    spans: [(u32, u32); MAX_TOKENS - 1],
    n: usize,
}

impl<'a> Tokens<'a> {
    /// Splits up to 23 tokens off `line` (which is at most a few MiB, so
    /// spans fit in `u32`).
    pub(crate) fn new(line: &'a [u8]) -> Self {
        let mut spans = [(0u32, 0u32); MAX_TOKENS - 1];
        let mut n = 0;
        let mut i = 0;
        let len = line.len();
        while i < len && n < MAX_TOKENS - 1 {
            while line.get(i) == Some(&b' ') {
                i += 1;
            }
            if i >= len {
                break;
            }
            let start = i;
            while i < len && line.get(i) != Some(&b' ') {
                i += 1;
            }
            if let Some(slot) = spans.get_mut(n) {
                *slot = (start as u32, i as u32);
            }
            n += 1;
        }
        Tokens { line, spans, n }
    }

    /// memcached's `ntokens`: real tokens plus the terminal one.
    pub(crate) fn ntokens(&self) -> usize {
        self.n + 1
    }

    /// Token `i`'s span.
    pub(crate) fn span(&self, i: usize) -> Range<usize> {
        if i >= self.n {
            return 0..0;
        }
        self.spans
            .get(i)
            .map_or(0..0, |&(s, e)| s as usize..e as usize)
    }

    /// Token `i` (empty when absent).
    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        self.line.get(self.span(i)).unwrap_or(&[])
    }

    /// The last real token (`tokens[ntokens - 2]` in memcached).
    pub(crate) fn last(&self) -> &'a [u8] {
        match self.n {
            0 => &[],
            n => self.get(n - 1),
        }
    }

    /// `set_noreply_maybe`: the last token is exactly `noreply`.
    pub(crate) fn noreply(&self) -> bool {
        self.last() == b"noreply"
    }
}

/// Every space-separated token of `line`, as spans (what memcached's get
/// loop ends up visiting across its re-tokenizations).
pub(crate) fn all_spans(line: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        let start = i;
        while i < line.len() && line.get(i) != Some(&b' ') {
            i += 1;
        }
        Some(start..i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content() {
        assert_eq!(line_content(b"get a\r"), b"get a");
        assert_eq!(line_content(b"get a"), b"get a");
        assert_eq!(line_content(b"\r"), b"\r");
        assert_eq!(line_content(b"version\r\r"), b"version\r");
        assert_eq!(line_content(b"get a\0b c\r"), b"get a");
    }

    #[test]
    fn tokenizes_on_single_spaces() {
        let t = Tokens::new(b"  set a\t0  0 1 ");
        assert_eq!(t.ntokens(), 5);
        assert_eq!(t.get(0), b"set");
        assert_eq!(t.get(1), b"a\t0");
        assert_eq!(t.last(), b"1");
        assert_eq!(t.get(9), b"");
    }

    #[test]
    fn caps_at_23_tokens() {
        let line: Vec<u8> = (0..30)
            .flat_map(|i| format!("t{i} ").into_bytes())
            .collect();
        let t = Tokens::new(&line);
        assert_eq!(t.ntokens(), MAX_TOKENS);
        assert_eq!(t.last(), b"t22");
        assert_eq!(all_spans(&line).count(), 30);
    }
}
