//! This process's CPU time and resident memory, from `/proc` (Linux; None elsewhere), for the figures
//! the benchmarks print.

/// CPU seconds (user + system) used so far by this process and by its waited-for children (Linux, from
/// `/proc/self/stat`, assuming the usual 100 ticks a second).
pub fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest: Vec<u64> = stat.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
    let [utime, stime, cutime, cstime] = rest[..] else {
        return None;
    };
    Some(((utime + stime) as f64 / 100.0, (cutime + cstime) as f64 / 100.0))
}

/// A `/proc/self/status` figure in bytes (`VmHWM`, `RssAnon`, ...; Linux, None elsewhere).
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Peak resident set size of this process (Linux; None elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM")
}

/// Resident memory now: (anonymous, file-backed) (Linux; None elsewhere).
pub fn rss_split_bytes() -> Option<(u64, u64)> {
    Some((status_bytes("RssAnon")?, status_bytes("RssFile")?))
}
