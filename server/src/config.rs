//! `ringcache node`'s command line and configuration.
//!
//! The flags are a contract (DESIGN.md): each means what memcached's flag of
//! the same letter means, so `memcached -p 11211 -m 64 -c 1024` becomes
//! `ringcache node -p 11211 -m 64 -c 1024`. Bounds and error messages follow
//! memcached 1.6.18 where it has them (`-I`, `-t`).
//!
//! `--config FILE` reads `name = value` lines whose names are the long flag
//! names (`port = 11211`, `memory-limit = 128`, `enable-shutdown = true`);
//! `#` starts a comment. Flags on the command line win over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use crate::store::Eviction;

/// memcached's `ITEM_SIZE_MAX_LOWER_LIMIT`.
const ITEM_SIZE_MIN: u64 = 1024;
/// memcached's `ITEM_SIZE_MAX_UPPER_LIMIT`.
const ITEM_SIZE_MAX: u64 = 1024 * 1024 * 1024;

/// A configuration the node refuses to start with; the message is what the
/// operator sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value is out of bounds or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// `--eviction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum EvictionArg {
    /// moka's window TinyLFU (admission by frequency): a point or so more
    /// hit ratio, but a `STORED` item may never be readable.
    Tinylfu,
    /// Least recently used: what memcached users expect (the default).
    #[default]
    Lru,
}

/// The flags of `ringcache node`.
#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct NodeArgs {
    /// TCP port to listen on.
    #[arg(short = 'p', long = "port", default_value_t = 11211)]
    pub port: u16,
    /// Interface to listen on.
    #[arg(short = 'l', long = "listen", default_value = "127.0.0.1")]
    pub listen: String,
    /// Item memory in megabytes.
    #[arg(short = 'm', long = "memory-limit", default_value_t = 64)]
    pub memory_mb: u64,
    /// Max simultaneous connections.
    #[arg(short = 'c', long = "conn-limit", default_value_t = 1024)]
    pub max_conns: usize,
    /// Number of worker threads (default 4, memcached's default).
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    pub threads: usize,
    /// Max item size: bytes, or with a k/m suffix (1k..1024m).
    #[arg(short = 'I', long = "max-item-size", default_value = "1m")]
    pub max_item_size: String,
    /// UDP port: only 0 (off) is accepted; ringcache never serves UDP.
    #[arg(short = 'U', long = "udp-port", default_value_t = 0)]
    pub udp_port: u16,
    /// Enable the ascii `shutdown` command.
    #[arg(short = 'A', long = "enable-shutdown", action = ArgAction::SetTrue)]
    pub enable_shutdown: bool,
    /// Close connections idle for this many seconds (0 = never).
    #[arg(long = "idle-timeout", default_value_t = 0)]
    pub idle_timeout: u64,
    /// memcached's extended options; `idle_timeout=N` and `maxconns_fast`
    /// are understood, comma separated.
    #[arg(short = 'o', long = "extended", action = ArgAction::Append)]
    pub extended: Vec<String>,
    /// Eviction policy.
    #[arg(long = "eviction", value_enum, default_value_t = EvictionArg::Lru)]
    pub eviction: EvictionArg,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long = "metrics")]
    pub metrics: Option<SocketAddr>,
    /// Read flags from this file (`name = value` lines, long flag names).
    #[arg(long = "config")]
    pub config: Option<PathBuf>,
    /// Verbose logging (-v, -vv).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// TLS (-Z, --tls-*) and authentication (-Y).
    #[command(flatten)]
    pub security: crate::tls::SecurityArgs,
}

/// The node's resolved configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Port (`stats settings tcpport`).
    pub port: u16,
    /// Interface (`stats settings inter`).
    pub listen: String,
    /// `-m` in megabytes.
    pub memory_mb: u64,
    /// `-c`.
    pub max_conns: usize,
    /// `-t`.
    pub threads: usize,
    /// `-I` in bytes.
    pub max_item_size: usize,
    /// `-A`.
    pub enable_shutdown: bool,
    /// Idle connection timeout; `None` = never.
    pub idle_timeout: Option<Duration>,
    /// Eviction policy.
    pub eviction: Eviction,
    /// Prometheus listener.
    pub metrics: Option<SocketAddr>,
    /// `-v` count.
    pub verbose: u8,
    /// TLS on the listener (`-Z`); off by default.
    pub tls: Option<crate::tls::ServerTls>,
    /// `-Y`: the auth file; off by default.
    pub auth: Option<std::sync::Arc<crate::auth::AuthFile>>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            port: 11211,
            listen: "127.0.0.1".to_owned(),
            memory_mb: 64,
            max_conns: 1024,
            threads: 4,
            max_item_size: 1024 * 1024,
            enable_shutdown: false,
            idle_timeout: None,
            eviction: Eviction::Lru,
            metrics: None,
            verbose: 0,
            tls: None,
            auth: None,
        }
    }
}

impl NodeConfig {
    /// `-m` in bytes (`limit_maxbytes`).
    pub fn max_bytes(&self) -> u64 {
        self.memory_mb.saturating_mul(1024 * 1024)
    }
}

/// Parses memcached's `-I` forms: plain bytes, or a number with `k`/`m`
/// (either case). Like memcached, `k` and `m` are powers of 1024.
///
/// # Errors
///
/// A value that is not a number with an optional unit.
pub fn parse_item_size(s: &str) -> Result<u64, ConfigError> {
    let bad = || ConfigError::Invalid(format!("invalid max item size: {s:?}"));
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(unit).ok_or_else(bad)
}

impl NodeArgs {
    /// Merges `--config` (if any) under the command line: `argv` is the
    /// process's arguments after `node`. Returns the arguments to parse.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn with_config_file(argv: Vec<String>) -> Result<Vec<String>, ConfigError> {
        let mut path = None;
        let mut iter = argv.iter();
        while let Some(arg) = iter.next() {
            if arg == "--config" {
                path = iter.next().cloned();
            } else if let Some(p) = arg.strip_prefix("--config=") {
                path = Some(p.to_owned());
            }
        }
        let Some(path) = path else {
            return Ok(argv);
        };
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
            path: path.clone(),
            source,
        })?;
        let mut merged = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (name, value) = match line.split_once('=') {
                Some((n, v)) => (n.trim(), v.trim().trim_matches('"')),
                None => (line, "true"),
            };
            match value {
                "true" => merged.push(format!("--{name}")),
                "false" => {}
                _ => {
                    merged.push(format!("--{name}"));
                    merged.push(value.to_owned());
                }
            }
        }
        // The file's flags first, so the command line overrides them
        // (`args_override_self`).
        merged.extend(argv);
        Ok(merged)
    }

    /// Checks the flags against memcached's bounds and resolves them.
    ///
    /// # Errors
    ///
    /// Out-of-bounds values, with memcached's wording where it has one.
    pub fn resolve(&self) -> Result<NodeConfig, ConfigError> {
        if self.udp_port != 0 {
            return Err(ConfigError::Invalid(format!(
                "-U {}: ringcache does not serve UDP; use -U 0 (the default)",
                self.udp_port
            )));
        }
        check_threads_and_conns(self.threads, self.max_conns)?;
        if self.memory_mb == 0 {
            return Err(ConfigError::Invalid(
                "Memory limit must be greater than 0".to_owned(),
            ));
        }
        let item_size = parse_item_size(&self.max_item_size)?;
        if item_size < ITEM_SIZE_MIN {
            return Err(ConfigError::Invalid(
                "Item max size cannot be less than 1024 bytes.".to_owned(),
            ));
        }
        if item_size > self.memory_mb.saturating_mul(1024 * 1024) / 2 {
            return Err(ConfigError::Invalid(
                "Cannot set item size limit higher than 1/2 of memory max.".to_owned(),
            ));
        }
        if item_size > ITEM_SIZE_MAX {
            return Err(ConfigError::Invalid(
                "Cannot set item size limit higher than a gigabyte.".to_owned(),
            ));
        }
        let mut idle = self.idle_timeout;
        let mut ssl_opts = Vec::new();
        for opts in &self.extended {
            for opt in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                let (name, value) = opt.split_once('=').unwrap_or((opt, ""));
                match name {
                    "idle_timeout" => {
                        idle = value.parse().map_err(|_| {
                            ConfigError::Invalid(format!("invalid idle_timeout: {value:?}"))
                        })?;
                    }
                    // Our only behaviour past -c: reply and close.
                    "maxconns_fast" => {}
                    "ssl_chain_cert" | "ssl_key" | "ssl_ca_cert" | "ssl_verify_mode" => {
                        ssl_opts.push((name.to_owned(), value.to_owned()));
                    }
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "Illegal suboption \"{opt}\" (ringcache understands idle_timeout=N, maxconns_fast, ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode)"
                        )))
                    }
                }
            }
        }
        let security = self
            .security
            .resolve(&ssl_opts)
            .map_err(ConfigError::Invalid)?;
        Ok(NodeConfig {
            port: self.port,
            listen: self.listen.clone(),
            memory_mb: self.memory_mb,
            max_conns: self.max_conns,
            threads: self.threads,
            max_item_size: usize::try_from(item_size).unwrap_or(usize::MAX),
            enable_shutdown: self.enable_shutdown,
            idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
            eviction: match self.eviction {
                EvictionArg::Tinylfu => Eviction::TinyLfu,
                EvictionArg::Lru => Eviction::Lru,
            },
            metrics: self.metrics,
            verbose: self.verbose,
            tls: security.tls,
            auth: security.auth,
        })
    }
}

/// `-t` and `-c`, checked with memcached's messages: shared by the node and
/// the proxy, whose listeners take the same flags.
pub(crate) fn check_threads_and_conns(threads: usize, max_conns: usize) -> Result<(), ConfigError> {
    if threads == 0 {
        return Err(ConfigError::Invalid(
            "Number of threads must be greater than 0".to_owned(),
        ));
    }
    if max_conns == 0 {
        return Err(ConfigError::Invalid(
            "Maximum connections must be greater than 0".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn parse(args: &[&str]) -> Result<NodeConfig, String> {
        let argv: Vec<String> = std::iter::once("node")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.node.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_memcacheds() {
        let c = parse(&[]).expect("defaults");
        assert_eq!(c.port, 11211);
        assert_eq!(c.listen, "127.0.0.1");
        assert_eq!(c.max_bytes(), 64 * 1024 * 1024);
        assert_eq!(c.max_conns, 1024);
        assert_eq!(c.threads, 4);
        assert_eq!(c.max_item_size, 1024 * 1024);
        assert!(!c.enable_shutdown);
    }

    #[test]
    fn item_size_forms_and_bounds() {
        assert_eq!(parse_item_size("1m").expect("1m"), 1 << 20);
        assert_eq!(parse_item_size("512k").expect("512k"), 512 << 10);
        assert_eq!(parse_item_size("2048").expect("bytes"), 2048);
        assert_eq!(parse_item_size("2M").expect("2M"), 2 << 20);
        assert!(parse_item_size("abc").is_err());
        assert!(parse(&["-I", "512"])
            .expect_err("too small")
            .contains("less than 1024"));
        assert!(parse(&["-m", "1", "-I", "1m"])
            .expect_err("half of -m")
            .contains("1/2 of memory"));
        assert!(parse(&["-m", "4096", "-I", "1025m"])
            .expect_err("too big")
            .contains("gigabyte"));
        assert_eq!(
            parse(&["-I", "2m"]).expect("2m").max_item_size,
            2 * 1024 * 1024
        );
    }

    #[test]
    fn udp_only_zero() {
        assert!(parse(&["-U", "0"]).is_ok());
        assert!(parse(&["-U", "11211"])
            .expect_err("udp")
            .contains("does not serve UDP"));
    }

    #[test]
    fn extended_idle_timeout() {
        let c = parse(&["-o", "idle_timeout=30,maxconns_fast"]).expect("ok");
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(30)));
        assert!(parse(&["-o", "hashpower=20"]).is_err());
        let c = parse(&["--idle-timeout", "5"]).expect("ok");
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn later_flags_win_and_config_file_is_overridden() {
        let dir = std::env::temp_dir().join(format!("ringcache-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("node.conf");
        std::fs::write(
            &file,
            "# node\nport = 12000\nmemory-limit = 128\nenable-shutdown = true\n",
        )
        .expect("write");
        let argv = vec![
            "--config".to_owned(),
            file.display().to_string(),
            "-p".to_owned(),
            "13000".to_owned(),
        ];
        let merged = NodeArgs::with_config_file(argv).expect("merge");
        let args: Vec<&str> = merged.iter().map(String::as_str).collect();
        let c = parse(&args).expect("parse");
        assert_eq!(c.port, 13000);
        assert_eq!(c.memory_mb, 128);
        assert!(c.enable_shutdown);
        std::fs::remove_dir_all(&dir).ok();
    }
}
