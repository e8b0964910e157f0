//! Meta replies: `HD VA EN NF NS EX` with their return flags, `ME`.

use bytes::Bytes;

use crate::meta::FlagOrder;

/// The two-letter status of a meta reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaStatus {
    /// `HD`: success, no value.
    Hd,
    /// `VA <len>`: success with a value.
    Va,
    /// `EN`: miss (`mg`, `me`).
    En,
    /// `NF`: not found (`md`, `ma`, `ms` in replace/append modes).
    Nf,
    /// `NS`: not stored (`ms`).
    Ns,
    /// `EX`: CAS mismatch / exists.
    Ex,
}

impl MetaStatus {
    /// The wire word.
    pub fn as_bytes(self) -> &'static [u8; 2] {
        match self {
            MetaStatus::Hd => b"HD",
            MetaStatus::Va => b"VA",
            MetaStatus::En => b"EN",
            MetaStatus::Nf => b"NF",
            MetaStatus::Ns => b"NS",
            MetaStatus::Ex => b"EX",
        }
    }
}

/// A meta reply: status, return flags, and for `VA` the value.
///
/// Build it from the request with `MetaReply::new(status, order)`, setting
/// the values the command returns; the encoder walks `flags.order` (the
/// request's letters) and writes each letter whose value is present, then
/// `Z`, `X`, `W`, exactly like memcached. Which values each command fills:
///
/// | command | hit | miss / failure |
/// |---|---|---|
/// | `mg` | `s t c f l h k O` (+ `W X Z`) | `k O` (status `EN`) |
/// | `ms` | `k c O` | `k c O` (memcached echoes them with every status) |
/// | `md` | `k O` | `k O` |
/// | `ma` | `c t k O` | `k O` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaReply {
    /// `HD`, `VA`...
    pub status: MetaStatus,
    /// The value for `VA` (its length is written after `VA`). Ignored for
    /// other statuses.
    pub value: Option<Bytes>,
    /// Return flag values.
    pub flags: ReturnValues,
}

impl MetaReply {
    /// A reply with no return values yet, echoing in `order`.
    pub fn new(status: MetaStatus, order: FlagOrder) -> Self {
        MetaReply {
            status,
            value: None,
            flags: ReturnValues {
                order,
                ..ReturnValues::default()
            },
        }
    }
}

/// Values of return flags; `None`/`false` ones are not written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnValues {
    /// Letters in request order (copied from the request's flags).
    pub order: FlagOrder,
    /// `k`: the key (binary, as stored).
    pub key: Option<Bytes>,
    /// Write the key in base64 followed by ` b` (the key is binary: it was
    /// set or requested with `b`).
    pub key_base64: bool,
    /// `O`: the opaque token (without the `O`).
    pub opaque: Option<Bytes>,
    /// `c`: CAS unique.
    pub cas: Option<u64>,
    /// `t`: remaining TTL in seconds, `-1` for none.
    pub ttl: Option<i64>,
    /// `f`: client flags.
    pub client_flags: Option<u32>,
    /// `s`: value size.
    pub size: Option<u32>,
    /// `h`: whether the item had been fetched before (`h0`/`h1`).
    pub hit_before: Option<bool>,
    /// `l`: seconds since last access.
    pub last_access: Option<u32>,
    /// `Z`: a recache token was already handed out.
    pub token_sent: bool,
    /// `X`: the item is stale (invalidated).
    pub stale: bool,
    /// `W`: this client won the recache token.
    pub won: bool,
    /// Not written. Set when `ma` created the item through `N` (vivify):
    /// memcached 1.6.18 does not let `q` withhold that reply, only the
    /// reply to an existing counter. Read by
    /// [`Request::suppresses`](crate::Request::suppresses).
    pub vivified: bool,
}

/// The `me` reply:
/// `ME <key> exp=<n> la=<n> cas=<n> fetch=<yes|no> cls=<n> size=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDebugReply {
    /// The key as stored.
    pub key: Bytes,
    /// Write the key in base64 (binary keys).
    pub key_base64: bool,
    /// Seconds until expiry as memcached prints it (`-1` for none; note
    /// memcached 1.6.18 prints `current_time - exptime`, i.e. a negative
    /// number for a live item with a TTL).
    pub exp: i64,
    /// Seconds since last access.
    pub last_access: u64,
    /// CAS unique.
    pub cas: u64,
    /// Fetched since stored.
    pub fetched: bool,
    /// Slab class id.
    pub class: u32,
    /// Total item size in bytes (memcached's `ITEM_ntotal`).
    pub size: u64,
}
