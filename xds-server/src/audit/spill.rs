//! Records the store could not take in time, on local disk until it can:
//! JSON lines (the record's own JSON) appended to `pending.jsonl`; to
//! replay, that file is renamed `replaying.jsonl` (new spills start a new
//! `pending.jsonl`) and read back in chunks, then deleted. A replay cut
//! short (a crash, a stop) starts over from the top next time: the store
//! keys records by `request_id`, so nothing is stored twice.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use kubeplex_proto::audit::v1::AuditRecord;

const PENDING: &str = "pending.jsonl";
const REPLAYING: &str = "replaying.jsonl";

/// The spill folder.
pub struct Spill {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `pending.jsonl`, open for appending.
    writer: Option<BufWriter<File>>,
    /// Records appended to `pending.jsonl` and not yet taken for replay.
    pending: u64,
    /// `replaying.jsonl`, open for reading.
    reader: Option<BufReader<File>>,
}

/// Why the spill folder failed.
#[derive(Debug, thiserror::Error)]
#[error("audit spill {}", path.display())]
pub struct SpillError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl Spill {
    /// Use `dir` (created if missing); returns the spill and how many
    /// records earlier runs left in it.
    pub fn open(dir: &Path) -> Result<(Spill, u64), SpillError> {
        let error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SpillError { path, source }
        };
        std::fs::create_dir_all(dir).map_err(error(dir))?;
        let mut left = 0;
        for name in [PENDING, REPLAYING] {
            let path = dir.join(name);
            if let Ok(file) = File::open(&path) {
                left += BufReader::new(file).lines().count() as u64;
            }
        }
        let pending = File::open(dir.join(PENDING))
            .map(|f| BufReader::new(f).lines().count() as u64)
            .unwrap_or(0);
        let spill = Spill {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                pending,
                ..Inner::default()
            }),
        };
        Ok((spill, left))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append records (written through to the OS before returning).
    pub fn append(&self, records: &[AuditRecord]) -> Result<(), SpillError> {
        let path = self.dir.join(PENDING);
        let mut inner = self.lock();
        let result = (|| {
            if inner.writer.is_none() {
                let file = OpenOptions::new().create(true).append(true).open(&path)?;
                inner.writer = Some(BufWriter::new(file));
            }
            let writer = inner.writer.as_mut().expect("opened above");
            for r in records {
                writer.write_all(r.to_line().as_bytes())?;
                writer.write_all(b"\n")?;
            }
            writer.flush()
        })();
        match result {
            Ok(()) => {
                inner.pending += records.len() as u64;
                Ok(())
            }
            Err(source) => {
                // a half-written line is skipped on replay
                inner.writer = None;
                Err(SpillError { path, source })
            }
        }
    }

    /// Whether anything waits for replay.
    pub fn has_pending(&self) -> bool {
        let inner = self.lock();
        inner.reader.is_some() || inner.pending > 0 || self.dir.join(REPLAYING).exists()
    }

    /// The next records to replay (at most `max`), or None when nothing
    /// is left. Ask for the next chunk only once this one is stored: the
    /// file is deleted when a call finds it exhausted, so a replay cut
    /// short starts the file over.
    pub fn next_chunk(&self, max: usize) -> Result<Option<Vec<AuditRecord>>, SpillError> {
        let mut inner = self.lock();
        loop {
            if inner.reader.is_none() && !self.start_replay(&mut inner)? {
                return Ok(None);
            }
            let reader = inner.reader.as_mut().expect("replay started");
            let mut chunk = Vec::new();
            let mut line = String::new();
            while chunk.len() < max {
                line.clear();
                let read = reader.read_line(&mut line).map_err(|source| SpillError {
                    path: self.dir.join(REPLAYING),
                    source,
                })?;
                if read == 0 {
                    break;
                }
                // a line cut short by a crash is not a record: skipped
                if let Ok(r) = AuditRecord::from_line(&line) {
                    chunk.push(r);
                }
            }
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
            // this file is done (every earlier chunk was stored before the
            // next was asked for)
            inner.reader = None;
            let path = self.dir.join(REPLAYING);
            std::fs::remove_file(&path).map_err(|source| SpillError { path, source })?;
        }
    }

    /// Open `replaying.jsonl` (left by an earlier run), or make it from
    /// `pending.jsonl`. False when there is nothing to replay.
    fn start_replay(&self, inner: &mut Inner) -> Result<bool, SpillError> {
        let replaying = self.dir.join(REPLAYING);
        if !replaying.exists() {
            if inner.pending == 0 {
                return Ok(false);
            }
            inner.writer = None;
            inner.pending = 0;
            let pending = self.dir.join(PENDING);
            std::fs::rename(&pending, &replaying).map_err(|source| SpillError {
                path: pending,
                source,
            })?;
        }
        let file = File::open(&replaying).map_err(|source| SpillError {
            path: replaying,
            source,
        })?;
        inner.reader = Some(BufReader::new(file));
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
