//! `ringcache-ring-balance`: prints, as JSON, how evenly `ringcache-ring`
//! spreads keys over its nodes, for each scheme (xxh3, ketama) and node count.
//!
//! For every ring of `--nodes` weight-1 nodes (named `10.0.x.y:11211`) it
//! counts `--keys` keys in the load generator's format (`k` and a zero-padded
//! id, `--key-size` bytes) per owner, and computes each node's exact share
//! of the hash circle. Both are relative to the mean: 1.0 is a fair share.
//! Deterministic: the same arguments print the same figures on any machine.
//! `benches/scripts/ring_balance.sh` runs it and draws the histograms.
//!
//! ```text
//! ringcache-ring-balance --nodes 10,100 --keys 1000000 > balance.json
//! ```

use std::process::ExitCode;

use clap::Parser;
use ringcache_benches::balance::{self, Balance};
use ringcache_ring::Scheme;
use serde::Serialize;

/// Command-line options; echoed into the JSON.
#[derive(Debug, Parser, Serialize)]
#[command(
    name = "ringcache-ring-balance",
    version,
    about = "Keys per node relative to the mean, xxh3 vs ketama, as JSON"
)]
struct Args {
    /// Node counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    nodes: Vec<usize>,
    /// Keys sampled per ring.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Key length in bytes (`k` plus the zero-padded id).
    #[arg(long, default_value_t = 20)]
    key_size: usize,
    /// Schemes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "xxh3,ketama")]
    schemes: Vec<String>,
}

/// The whole output.
#[derive(Debug, Serialize)]
struct Report {
    args: Args,
    rings: Vec<Balance>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let digits = args
        .keys
        .saturating_sub(1)
        .checked_ilog10()
        .map_or(1, |d| d + 1) as usize;
    if args.key_size <= digits || args.key_size > 250 {
        eprintln!(
            "--key-size must be between {} and 250 for {} keys",
            digits + 1,
            args.keys
        );
        return ExitCode::FAILURE;
    }
    let mut rings = Vec::new();
    for name in &args.schemes {
        let scheme: Scheme = match name.parse() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        for &n in &args.nodes {
            match balance::measure(scheme, n, args.keys, args.key_size) {
                Ok(b) => {
                    eprintln!(
                        "{scheme} {n} nodes ({} points): keys/mean {:.4}..{:.4} (sd {:.4}), arc/mean {:.4}..{:.4} (sd {:.4}), sampling noise {:.4}",
                        b.points,
                        b.relative_spread.min,
                        b.relative_spread.max,
                        b.relative_spread.stddev,
                        b.arc_spread.min,
                        b.arc_spread.max,
                        b.arc_spread.stddev,
                        b.sampling_noise
                    );
                    rings.push(b);
                }
                Err(e) => {
                    eprintln!("cannot build a {scheme} ring of {n} nodes: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    match serde_json::to_string_pretty(&Report { args, rings }) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write JSON: {e}");
            ExitCode::FAILURE
        }
    }
}
