//! Bounds the parser enforces before it buffers anything.

/// memcached's fixed key limit (`KEY_MAX_LENGTH`): longer keys are rejected.
pub const MAX_KEY_LEN: usize = 250;

/// memcached closes a connection whose buffered input passes this many bytes
/// without a newline, unless the line is a `get`/`gets` (the check in
/// `try_read_command_ascii`).
pub const MAX_LINE_LEN: usize = 2048;

/// Per-item bookkeeping memcached adds to key and value when it decides
/// whether an item fits in `-I` (`sizeof(item)` on a 64-bit build).
pub const ITEM_HEADER_LEN: usize = 48;

/// The bounds one connection's parser works within.
///
/// Built with consuming setters; [`Limits::default`] is memcached's defaults
/// (`-I 1m`, CAS enabled).
///
/// # Examples
///
/// ```
/// use ringcache_protocol::Limits;
///
/// let limits = Limits::default().max_item_size(2 * 1024 * 1024);
/// assert!(limits.item_fits(3, 0, 1024));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_item_size: usize,
    pub(crate) max_multiget_line: usize,
    pub(crate) cas_enabled: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_item_size: 1024 * 1024,
            max_multiget_line: 1024 * 1024,
            cas_enabled: true,
        }
    }
}

impl Limits {
    /// memcached's `-I`: the largest item (header, key, flags, value, CAS)
    /// the node stores. Storage commands whose item would be larger get
    /// `SERVER_ERROR object too large for cache` and their data block is
    /// discarded without being buffered.
    pub fn max_item_size(mut self, bytes: usize) -> Self {
        self.max_item_size = bytes;
        self
    }

    /// Bound on a `get`/`gets` line. memcached lets multi-get lines grow
    /// without limit; we close the connection once an unterminated `get`
    /// line passes this many bytes (default 1 MiB, about 4000 keys of 250
    /// bytes), so that the read buffer stays bounded.
    pub fn max_multiget_line(mut self, bytes: usize) -> Self {
        self.max_multiget_line = bytes.max(MAX_LINE_LEN);
        self
    }

    /// memcached's `-C` turns CAS off, which saves 8 bytes per item and so
    /// moves the "too large" threshold. Default: enabled.
    pub fn cas_enabled(mut self, enabled: bool) -> Self {
        self.cas_enabled = enabled;
        self
    }

    /// The configured `-I`.
    pub fn item_size(&self) -> usize {
        self.max_item_size
    }

    /// The configured multi-get line bound.
    pub fn multiget_line(&self) -> usize {
        self.max_multiget_line
    }

    /// The most bytes a connection's read buffer needs to hold for one
    /// frame: a command line plus the largest data block that can fit.
    /// Anything beyond this is never buffered.
    pub fn max_frame(&self) -> usize {
        self.max_multiget_line.max(MAX_LINE_LEN) + self.max_item_size + 2
    }

    /// Whether an item with this key length, client flags and value length
    /// fits under `-I`, computed the way memcached's `item_size_ok` does:
    /// header + key + NUL + 4 bytes of flags when non-zero + value + CRLF +
    /// 8 bytes of CAS when enabled.
    pub fn item_fits(&self, key_len: usize, flags: u32, value_len: usize) -> bool {
        let suffix = if flags == 0 { 0 } else { 4 };
        let cas = if self.cas_enabled { 8 } else { 0 };
        let total = ITEM_HEADER_LEN
            .saturating_add(key_len)
            .saturating_add(1)
            .saturating_add(suffix)
            .saturating_add(value_len)
            .saturating_add(2)
            .saturating_add(cas);
        total <= self.max_item_size
    }
}
