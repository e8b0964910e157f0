//! The `Ketama` scheme: libmemcached's weighted ketama
//! (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`) and twemproxy's
//! `distribution: ketama` with `hash: md5`, written from their documented
//! behaviour (libmemcached `hosts.cc` `update_continuum`, twemproxy
//! `nc_ketama.c` `ketama_update`, `nc_conf.c` `conf_add_server`).

use md5::{Digest, Md5};

use crate::Node;

/// Points per server at equal weight (`MEMCACHED_POINTS_PER_SERVER_KETAMA`,
/// twemproxy `KETAMA_POINTS_PER_SERVER`).
const POINTS_PER_SERVER: f32 = 160.0;

/// One MD5 digest yields four points.
const POINTS_PER_HASH: u32 = 4;

/// The port libmemcached and twemproxy leave out of the host string.
const DEFAULT_PORT_SUFFIX: &str = ":11211";

/// The key's position: the first four bytes of MD5(key), little-endian.
#[inline]
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let digest = Md5::digest(key);
    u64::from(u32::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]))
}

/// The string both C implementations hash for a server, before `-{i}`:
/// `host` when the port is 11211, `host:port` otherwise.
///
/// From a node name: a trailing `:11211` is dropped, then the brackets of a
/// bracketed IPv6 host (`[::1]:11212` → `::1:11212`), because libmemcached
/// and twemproxy keep the bare address. Anything else is used verbatim, so a
/// name without a port (`cache-a`, or a twemproxy server's own name) is
/// hashed as given.
pub(crate) fn server_label(name: &str) -> String {
    let host_port = name.strip_suffix(DEFAULT_PORT_SUFFIX).unwrap_or(name);
    match host_port
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
    {
        Some((host, port)) => format!("{host}{port}"),
        None => host_port.to_owned(),
    }
}

/// How many points a server gets: libmemcached's rounding, in `f32` exactly
/// as the C code computes it, including its habit of giving 156 instead of
/// 160 points at some pool sizes:
///
/// `floor((weight / total) * 160 / 4 * servers + 1e-10) * 4`.
///
/// `servers` counts every node on the ring, zero-weight ones included, as
/// libmemcached counts every live server.
pub(crate) fn point_count(weight: u32, total_weight: u64, servers: usize) -> u32 {
    if weight == 0 || total_weight == 0 {
        return 0;
    }
    let pct = weight as f32 / total_weight as f32;
    let per_hash = (pct * POINTS_PER_SERVER / POINTS_PER_HASH as f32 * servers as f32
        + 0.000_000_000_1_f32)
        .floor();
    // `pct <= 1`, so `per_hash <= 40 * servers`: the cast cannot saturate
    // below 2^32 / 4 servers.
    (per_hash as u32).saturating_mul(POINTS_PER_HASH)
}

/// Appends the points of `node`: for `i` in `0..count / 4`,
/// MD5(`"{label}-{i}"`), each digest cut into four little-endian `u32`s.
pub(crate) fn push_points(node: &Node, count: u32, points: &mut Vec<u64>) {
    let label = server_label(node.name());
    let mut text = String::with_capacity(label.len() + 11);
    for i in 0..count / POINTS_PER_HASH {
        text.clear();
        text.push_str(&label);
        text.push('-');
        text.push_str(&i.to_string());
        let digest = Md5::digest(text.as_bytes());
        for chunk in digest.chunks_exact(4) {
            let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            points.push(u64::from(value));
        }
    }
}

#[cfg(test)]
mod tests;
