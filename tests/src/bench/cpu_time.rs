//! A process's CPU time from `/proc`: `utime + stime` of
//! `/proc/<pid>/stat` (clock ticks, 10 ms each), and the sum over its
//! threads of `/proc/<pid>/task/<tid>/schedstat`'s run time (nanoseconds).
//! The bench reports the nanosecond figure (a short window is a few
//! hundred ticks at most) and cross-checks it against the tick figure.

use std::path::Path;

use super::BenchError;

/// One reading of a process's CPU time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    /// `utime + stime`, in clock ticks.
    pub ticks: u64,
    /// Time on CPU summed over the live threads, in nanoseconds (None when
    /// the kernel has no schedstat).
    pub thread_ns: Option<u64>,
}

/// CPU spent between two samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuSpent {
    /// From the tick counters, in seconds.
    pub ticks_seconds: f64,
    /// From schedstat, in seconds (None without schedstat).
    pub thread_seconds: Option<f64>,
}

impl CpuSpent {
    /// The best figure: schedstat's when there is one.
    pub fn seconds(&self) -> f64 {
        self.thread_seconds.unwrap_or(self.ticks_seconds)
    }
}

impl CpuSample {
    /// Read `pid`'s counters now.
    pub fn read(pid: u32) -> Result<CpuSample, BenchError> {
        let err = |reason: String| BenchError::CpuTime { pid, reason };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| err(format!("/proc/{pid}/stat: {e}")))?;
        let ticks = parse_stat_ticks(&stat).ok_or_else(|| err(format!("cannot parse {stat:?}")))?;
        Ok(CpuSample {
            ticks,
            thread_ns: threads_ns(pid),
        })
    }

    /// CPU spent from `self` to `later`; `ticks_per_second` from
    /// [`clock_ticks_per_second`].
    pub fn until(&self, later: &CpuSample, ticks_per_second: u64) -> CpuSpent {
        CpuSpent {
            ticks_seconds: later.ticks.saturating_sub(self.ticks) as f64
                / ticks_per_second.max(1) as f64,
            thread_seconds: match (self.thread_ns, later.thread_ns) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
                _ => None,
            },
        }
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted after its last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The first field of a `schedstat` line: nanoseconds on CPU.
pub fn parse_schedstat_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// The parent pid (field 4) of a `/proc/<pid>/stat` line.
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Sum of every live thread's schedstat run time; None if unavailable.
/// A thread that exits between listing and reading is skipped (its time
/// leaves the sum: fine for Envoy, whose threads live as long as it does;
/// the tick figure, which keeps it, is the cross-check).
fn threads_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut seen = 0;
    for task in tasks.flatten() {
        // an exiting thread reads as NotFound, ESRCH or empty
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        if let Some(ns) = parse_schedstat_ns(&text) {
            total += ns;
            seen += 1;
        }
    }
    (seen > 0).then_some(total)
}

/// The kernel's `USER_HZ` (what `/proc/<pid>/stat` counts in), from
/// `getconf CLK_TCK`; 100, Linux's value everywhere that matters, if
/// `getconf` is unavailable.
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&hz| hz > 0)
        .unwrap_or(100)
}

/// The child processes of `parent` (found by scanning `/proc/*/stat`).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
                .ok()
                .and_then(|s| parse_stat_ppid(&s))
                == Some(parent)
        })
        .collect()
}

#[cfg(test)]
mod tests;
