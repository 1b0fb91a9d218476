//! A container's log: an in-memory list of timestamped lines, seeded with
//! a few deterministic ones (`<pod>/<container> line N`), appended to by
//! tests, followed by `logs -f` and `attach` through a change counter.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// How many lines a container's log starts with.
pub const SEEDED_LINES: usize = 3;

/// One log line (no trailing newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was written.
    pub time: SystemTime,
    /// The text.
    pub text: String,
}

/// The text of seeded line `n` (1-based).
pub fn seeded_line(pod: &str, container: &str, n: usize) -> String {
    format!("{pod}/{container} line {n}")
}

/// One container's log.
#[derive(Debug)]
pub struct LogBuffer {
    lines: Mutex<Vec<LogLine>>,
    /// The number of lines, bumped on every append.
    len: watch::Sender<usize>,
}

impl LogBuffer {
    /// A log with the seeded lines, written 1 ms apart from `started`.
    pub fn seeded(pod: &str, container: &str, started: SystemTime) -> LogBuffer {
        let lines: Vec<LogLine> = (1..=SEEDED_LINES)
            .map(|n| LogLine {
                time: started + Duration::from_millis(n as u64),
                text: seeded_line(pod, container, n),
            })
            .collect();
        let (len, _) = watch::channel(lines.len());
        LogBuffer {
            lines: Mutex::new(lines),
            len,
        }
    }

    /// Appends a line written now (a multi-line text becomes several).
    pub fn append(&self, text: &str) {
        let now = SystemTime::now();
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        for part in text.trim_end_matches('\n').split('\n') {
            lines.push(LogLine {
                time: now,
                text: part.to_string(),
            });
        }
        let n = lines.len();
        drop(lines);
        self.len.send_replace(n);
    }

    /// Lines from index `from` on.
    pub fn lines_from(&self, from: usize) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// The number of lines now.
    pub fn len(&self) -> usize {
        *self.len.borrow()
    }

    /// A receiver that changes whenever lines are appended.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.len.subscribe()
    }
}
