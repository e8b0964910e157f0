//! Flag order and mode switches.

/// The most flag tokens a meta request can carry: memcached's tokenizer
/// stops at 24 tokens and the meta commands refuse more than 20 in all.
pub const MAX_META_FLAGS: usize = 20;

/// The flag letters of one meta request, in the order they were sent.
///
/// memcached writes return flags in request order (`mg k s t` answers
/// `HD kfoo s3 t-1`, `mg k t s` answers `HD kfoo t-1 s3`), so the executor
/// copies this into its [`MetaReply`](crate::MetaReply) and the encoder walks
/// it. Fixed size and `Copy`: no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct FlagOrder {
    letters: [u8; MAX_META_FLAGS],
    len: u8,
}

impl FlagOrder {
    /// An empty order.
    pub const fn new() -> Self {
        FlagOrder {
            letters: [0; MAX_META_FLAGS],
            len: 0,
        }
    }

    /// Appends a letter; returns `false` (and changes nothing) when full.
    pub fn push(&mut self, letter: u8) -> bool {
        let len = usize::from(self.len);
        match self.letters.get_mut(len) {
            Some(slot) => {
                *slot = letter;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The letters, in request order.
    pub fn as_slice(&self) -> &[u8] {
        self.letters.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether `letter` was sent.
    pub fn contains(&self, letter: u8) -> bool {
        self.as_slice().contains(&letter)
    }

    /// Number of letters.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no flag was sent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for FlagOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlagOrder(\"")?;
        for &b in self.as_slice() {
            write!(f, "{}", char::from(b))?;
        }
        f.write_str("\")")
    }
}

impl<'a> FromIterator<&'a u8> for FlagOrder {
    fn from_iter<I: IntoIterator<Item = &'a u8>>(iter: I) -> Self {
        let mut order = FlagOrder::new();
        for &b in iter {
            if !order.push(b) {
                break;
            }
        }
        order
    }
}

/// `ms` mode switch (`M<mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetMode {
    /// `MS` (and the default): store unconditionally; with `C`, a CAS.
    #[default]
    Set,
    /// `ME`: add, only if absent.
    Add,
    /// `MA`: append to an existing value.
    Append,
    /// `MP`: prepend to an existing value.
    Prepend,
    /// `MR`: replace, only if present; with `C`, a CAS.
    Replace,
}

impl SetMode {
    /// The mode letter as sent.
    pub fn letter(self) -> u8 {
        match self {
            SetMode::Set => b'S',
            SetMode::Add => b'E',
            SetMode::Append => b'A',
            SetMode::Prepend => b'P',
            SetMode::Replace => b'R',
        }
    }

    pub(crate) fn from_letter(b: u8) -> Option<Self> {
        Some(match b {
            b'S' => SetMode::Set,
            b'E' => SetMode::Add,
            b'A' => SetMode::Append,
            b'P' => SetMode::Prepend,
            b'R' => SetMode::Replace,
            _ => return None,
        })
    }
}

/// `ma` mode switch (`MI`/`M+` increment, `MD`/`M-` decrement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArithmeticMode {
    /// Increment (the default).
    #[default]
    Increment,
    /// Decrement, stopping at zero.
    Decrement,
}

impl ArithmeticMode {
    pub(crate) fn from_letter(b: u8) -> Option<Self> {
        match b {
            b'I' | b'+' => Some(ArithmeticMode::Increment),
            b'D' | b'-' => Some(ArithmeticMode::Decrement),
            _ => None,
        }
    }
}
