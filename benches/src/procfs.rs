//! What the load generator reads from `/proc`: a process's CPU time and RSS.
//!
//! On a 2-core machine the load generator competes with the server it
//! measures, so ops/s alone says as much about the generator as about the
//! server. CPU time per operation, read from the server's own
//! `/proc/PID/stat`, does not depend on who else is running.

use std::time::Duration;

/// Clock ticks per second of `utime`/`stime` (`getconf CLK_TCK`), 100 when
/// `getconf` cannot be run, which is the value on every Linux we know.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// User plus system CPU time of a process, in clock ticks, from the text of
/// its `/proc/PID/stat`. `None` if the text is not in that format.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: split after
    // the last ')'. The fields after it start with field 3 (state), so utime
    // (field 14) and stime (field 15) are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used so far by process `pid` ("self" for this one).
pub fn cpu_time(pid: &str, ticks_per_sec: u64) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / ticks_per_sec.max(1),
    ))
}

/// `VmRSS` of process `pid`, in KiB, from the text of `/proc/PID/status`.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    parse_vm_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_name() {
        let stat = "1234 (mem (cached) x) S 1 1234 1234 0 -1 4194560 300 0 0 0 \
                    250 75 0 0 20 0 4 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn rss_line() {
        let status = "Name:\tmemcached\nVmPeak:\t  9999 kB\nVmRSS:\t   4321 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kib(status), Some(4321));
        assert_eq!(parse_vm_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_time("self", clock_ticks()).is_some());
        assert!(rss_kib("self").unwrap_or(0) > 0);
    }
}
