//! What the load generator asks for: key choice, op mix, value sizes and the
//! optional periodic scan, turned into request bytes.
//!
//! A [`Generator`] is one connection's deterministic trace: the same
//! [`WorkloadConfig`], seed and stream number give the same sequence of
//! requests, whichever server answers them.

use std::str::FromStr;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::rng::Rng;
use crate::text;
use crate::zipf::{Zipf, ZipfError};

/// How keys are picked from `0..key_count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Key `i` with probability proportional to `1 / (i + 1)^s`.
    Zipf(f64),
}

impl FromStr for KeyDist {
    type Err = String;

    /// `uniform`, `zipf` (s = 0.99) or `zipf:S`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uniform" => Ok(KeyDist::Uniform),
            "zipf" => Ok(KeyDist::Zipf(0.99)),
            _ => match s.strip_prefix("zipf:") {
                Some(exp) => exp
                    .parse::<f64>()
                    .ok()
                    .filter(|e| e.is_finite() && *e > 0.0)
                    .map(KeyDist::Zipf)
                    .ok_or_else(|| format!("bad Zipf exponent {exp:?}")),
                None => Err(format!("expected uniform, zipf or zipf:S, got {s:?}")),
            },
        }
    }
}

/// Sizes of the values written by `set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSize {
    /// Always this many bytes.
    Fixed(usize),
    /// Uniform over `min..=max` bytes.
    Uniform {
        /// Smallest size.
        min: usize,
        /// Largest size.
        max: usize,
    },
}

impl ValueSize {
    /// The largest size this can produce.
    pub fn max(self) -> usize {
        match self {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { max, .. } => max,
        }
    }
}

impl FromStr for ValueSize {
    type Err = String;

    /// `N` for a fixed size, `MIN-MAX` for a uniform range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad value size {t:?}"))
        };
        match s.split_once('-') {
            None => Ok(ValueSize::Fixed(num(s)?)),
            Some((a, b)) => {
                let (min, max) = (num(a)?, num(b)?);
                if min > max {
                    return Err(format!("value size range {s:?} is backwards"));
                }
                Ok(ValueSize::Uniform { min, max })
            }
        }
    }
}

/// Relative weights of the three request kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Single-key `get`.
    pub get: u32,
    /// `set`.
    pub set: u32,
    /// Multi-key `get`.
    pub mget: u32,
}

impl FromStr for Mix {
    type Err = String;

    /// `GET:SET` or `GET:SET:MGET` weights, e.g. `90:10` or `80:10:10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Result<Vec<u32>, _> = s.split(':').map(|p| p.trim().parse::<u32>()).collect();
        let parts = parts.map_err(|_| format!("bad mix {s:?}: expected GET:SET[:MGET]"))?;
        let mix = match parts[..] {
            [get, set] => Mix { get, set, mget: 0 },
            [get, set, mget] => Mix { get, set, mget },
            _ => return Err(format!("bad mix {s:?}: expected GET:SET[:MGET]")),
        };
        if mix.get as u64 + mix.set as u64 + mix.mget as u64 == 0 {
            return Err("mix weights are all zero".into());
        }
        Ok(mix)
    }
}

/// Everything that shapes the request stream.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Keys are `0..key_count`.
    pub key_count: u64,
    /// Every key is exactly this long: `k` and the zero-padded id.
    pub key_size: usize,
    /// How keys are picked.
    pub dist: KeyDist,
    /// Sizes of written values.
    pub value_size: ValueSize,
    /// Request mix (ignored in cache-aside mode, which only issues gets and
    /// the sets that fill misses).
    pub mix: Mix,
    /// Keys per multi-get.
    pub mget_size: u32,
    /// After every `scan_every` ordinary requests, read `scan_len` keys in
    /// sequence (a scan, as a batch job or a crawler would). 0 disables.
    pub scan_every: u64,
    /// Keys per scan.
    pub scan_len: u64,
}

/// Why a [`WorkloadConfig`] is unusable.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// `key_size` cannot hold `k` plus the digits of the largest id, or is
    /// longer than memcached's 250-byte limit.
    KeySize {
        /// What was asked.
        key_size: usize,
        /// The smallest that works for this key count.
        needed: usize,
    },
    /// The Zipf sampler refused its parameters.
    Zipf(ZipfError),
    /// A multi-get of zero keys.
    EmptyMultiGet,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::KeySize { key_size, needed } => write!(
                f,
                "key size {key_size} must be between {needed} (for this key count) and 250"
            ),
            ConfigError::Zipf(e) => e.fmt(f),
            ConfigError::EmptyMultiGet => write!(f, "multi-get size must be at least 1"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

impl WorkloadConfig {
    /// Checks the parameters that can only be checked together.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let needed = 1 + digits(self.key_count.saturating_sub(1));
        if self.key_size < needed || self.key_size > 250 {
            return Err(ConfigError::KeySize {
                key_size: self.key_size,
                needed,
            });
        }
        if self.mget_size == 0 {
            return Err(ConfigError::EmptyMultiGet);
        }
        if let KeyDist::Zipf(s) = self.dist {
            Zipf::new(self.key_count, s).map_err(ConfigError::Zipf)?;
        }
        Ok(())
    }

    /// Appends key `id`: `k` followed by `id` zero-padded to `key_size`.
    pub fn write_key(&self, out: &mut BytesMut, id: u64) {
        out.put_u8(b'k');
        text::put_padded(out, id, self.key_size - 1);
    }
}

/// The kind of a generated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Single-key `get`.
    Get,
    /// `set`.
    Set,
    /// Multi-key `get`.
    MultiGet,
}

/// One generated request, as the connection remembers it until its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// What was sent.
    pub kind: OpKind,
    /// Its key (the first key of a multi-get).
    pub key: u64,
    /// Keys asked for (1 except for multi-gets).
    pub nkeys: u32,
    /// Part of a scan rather than the key distribution.
    pub scan: bool,
}

/// One connection's request stream.
#[derive(Debug, Clone)]
pub struct Generator {
    cfg: Arc<WorkloadConfig>,
    rng: Rng,
    zipf: Option<Zipf>,
    values: Arc<[u8]>,
    since_scan: u64,
    scan_left: u64,
    scan_cursor: u64,
}

impl Generator {
    /// The generator for stream `stream` of `seed`. Call
    /// [`WorkloadConfig::validate`] first: an invalid Zipf exponent falls
    /// back to uniform here.
    pub fn new(cfg: Arc<WorkloadConfig>, seed: u64, stream: u64, streams: u64) -> Self {
        let zipf = match cfg.dist {
            KeyDist::Zipf(s) => Zipf::new(cfg.key_count, s).ok(),
            KeyDist::Uniform => None,
        };
        let values: Arc<[u8]> = vec![b'v'; cfg.value_size.max()].into();
        // Scans of different connections start at different places.
        let scan_cursor = if streams == 0 {
            0
        } else {
            (u128::from(cfg.key_count) * u128::from(stream) / u128::from(streams)) as u64
        };
        Generator {
            rng: Rng::for_stream(seed, stream),
            cfg,
            zipf,
            values,
            since_scan: 0,
            scan_left: 0,
            scan_cursor,
        }
    }

    /// The workload this generator follows.
    pub fn config(&self) -> &WorkloadConfig {
        &self.cfg
    }

    fn pick_key(&mut self) -> (u64, bool) {
        if self.cfg.scan_every > 0 && self.cfg.scan_len > 0 {
            if self.scan_left == 0 && self.since_scan >= self.cfg.scan_every {
                self.scan_left = self.cfg.scan_len;
                self.since_scan = 0;
            }
            if self.scan_left > 0 {
                self.scan_left -= 1;
                let key = self.scan_cursor;
                self.scan_cursor = (self.scan_cursor + 1) % self.cfg.key_count.max(1);
                return (key, true);
            }
            self.since_scan += 1;
        }
        let key = match &self.zipf {
            Some(z) => z.sample(&mut self.rng) - 1,
            None => self.rng.below(self.cfg.key_count),
        };
        (key, false)
    }

    fn value_len(&mut self) -> usize {
        match self.cfg.value_size {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { min, max } => {
                min + self.rng.below((max - min) as u64 + 1) as usize
            }
        }
    }

    /// Generates the next request of the configured mix and appends it to `out`.
    pub fn next_op(&mut self, out: &mut BytesMut) -> Op {
        let (key, scan) = self.pick_key();
        let mix = self.cfg.mix;
        let kind = if scan {
            OpKind::Get
        } else {
            let total = u64::from(mix.get) + u64::from(mix.set) + u64::from(mix.mget);
            let r = self.rng.below(total);
            if r < u64::from(mix.get) {
                OpKind::Get
            } else if r < u64::from(mix.get) + u64::from(mix.set) {
                OpKind::Set
            } else {
                OpKind::MultiGet
            }
        };
        match kind {
            OpKind::Get => self.encode_get(out, key),
            OpKind::Set => self.encode_set(out, key),
            OpKind::MultiGet => {
                let n = self.cfg.mget_size;
                let mut ids = [0u64; 64];
                let mut rest = Vec::new();
                ids[0] = key;
                for i in 1..n as usize {
                    let (k, _) = self.pick_key();
                    if i < ids.len() {
                        ids[i] = k;
                    } else {
                        rest.push(k);
                    }
                }
                let cfg = Arc::clone(&self.cfg);
                let head = &ids[..(n as usize).min(ids.len())];
                text::encode_multi_get(out, head.iter().copied().chain(rest), |o, id| {
                    cfg.write_key(o, id)
                });
                return Op {
                    kind,
                    key,
                    nkeys: n,
                    scan,
                };
            }
        }
        Op {
            kind,
            key,
            nkeys: 1,
            scan,
        }
    }

    /// Generates the next key of the trace and appends a `get` for it (the
    /// cache-aside mode's read).
    pub fn next_get(&mut self, out: &mut BytesMut) -> Op {
        let (key, scan) = self.pick_key();
        self.encode_get(out, key);
        Op {
            kind: OpKind::Get,
            key,
            nkeys: 1,
            scan,
        }
    }

    /// Appends `get <key id>`.
    pub fn encode_get(&self, out: &mut BytesMut, id: u64) {
        out.reserve(self.cfg.key_size + 8);
        out.put_slice(b"get ");
        self.cfg.write_key(out, id);
        out.put_slice(b"\r\n");
    }

    /// Appends `set <key id>` with a value of a size drawn from the config.
    pub fn encode_set(&mut self, out: &mut BytesMut, id: u64) {
        let len = self.value_len();
        out.reserve(self.cfg.key_size + len + 32);
        out.put_slice(b"set ");
        self.cfg.write_key(out, id);
        out.put_slice(b" 0 0 ");
        text::put_decimal(out, len as u64);
        out.put_slice(b"\r\n");
        out.put_slice(&self.values[..len]);
        out.put_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> WorkloadConfig {
        WorkloadConfig {
            key_count: 1000,
            key_size: 20,
            dist: KeyDist::Zipf(0.99),
            value_size: ValueSize::Fixed(10),
            mix: Mix {
                get: 8,
                set: 1,
                mget: 1,
            },
            mget_size: 3,
            scan_every: 0,
            scan_len: 0,
        }
    }

    #[test]
    fn parses_flags() {
        assert_eq!("uniform".parse::<KeyDist>(), Ok(KeyDist::Uniform));
        assert_eq!("zipf:1.2".parse::<KeyDist>(), Ok(KeyDist::Zipf(1.2)));
        assert!("zipf:-1".parse::<KeyDist>().is_err());
        assert_eq!("100".parse::<ValueSize>(), Ok(ValueSize::Fixed(100)));
        assert_eq!(
            "10-20".parse::<ValueSize>(),
            Ok(ValueSize::Uniform { min: 10, max: 20 })
        );
        assert!("20-10".parse::<ValueSize>().is_err());
        assert_eq!(
            "90:10".parse::<Mix>(),
            Ok(Mix {
                get: 90,
                set: 10,
                mget: 0
            })
        );
        assert!("0:0".parse::<Mix>().is_err());
        assert!("1:2:3:4".parse::<Mix>().is_err());
    }

    #[test]
    fn keys_have_the_configured_size() {
        let c = cfg();
        let mut out = BytesMut::new();
        c.write_key(&mut out, 42);
        assert_eq!(&out[..], b"k0000000000000000042");
        let short = WorkloadConfig {
            key_size: 3,
            ..cfg()
        };
        assert!(matches!(
            short.validate(),
            Err(ConfigError::KeySize { needed: 4, .. })
        ));
        assert!(cfg().validate().is_ok());
    }

    #[test]
    fn trace_is_deterministic_and_well_formed() {
        let c = Arc::new(cfg());
        let run = || {
            let mut g = Generator::new(Arc::clone(&c), 11, 0, 1);
            let mut out = BytesMut::new();
            let ops: Vec<Op> = (0..500).map(|_| g.next_op(&mut out)).collect();
            (ops, out)
        };
        let (a, abytes) = run();
        let (b, bbytes) = run();
        assert_eq!(a, b);
        assert_eq!(abytes, bbytes);
        assert!(a.iter().any(|o| o.kind == OpKind::Set));
        assert!(a.iter().any(|o| o.kind == OpKind::MultiGet && o.nkeys == 3));
        let lines = abytes[..]
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"get "))
            .count();
        assert_eq!(lines, a.iter().filter(|o| o.kind != OpKind::Set).count());
    }

    #[test]
    fn scans_are_sequential_and_periodic() {
        let c = Arc::new(WorkloadConfig {
            scan_every: 5,
            scan_len: 3,
            ..cfg()
        });
        let mut g = Generator::new(c, 1, 0, 1);
        let mut out = BytesMut::new();
        let ops: Vec<Op> = (0..16).map(|_| g.next_get(&mut out)).collect();
        let scans: Vec<(usize, u64)> = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.scan)
            .map(|(i, o)| (i, o.key))
            .collect();
        assert_eq!(
            scans,
            vec![(5, 0), (6, 1), (7, 2), (13, 3), (14, 4), (15, 5)]
        );
    }
}
