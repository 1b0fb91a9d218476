//! The audit store: one table, `kubeplex_audit`, one column per field of
//! the audit record (`kubeplex_proto::audit::v1::AuditRecord`, by the same
//! names) plus `seq`, the order records were stored in. SQLite (embedded,
//! a file) or PostgreSQL; the schema is migrated when the store opens.
//!
//! Records are keyed by `request_id` (Envoy's, never the client's): storing
//! a record twice (a replayed spill, a retried batch) keeps one row.

use std::path::PathBuf;

use kubeplex_proto::admin::v1::{AuditQuery, AuditSession};
use kubeplex_proto::audit::v1::AuditRecord;

mod columns;
mod postgres;
mod postgres_tls;
mod query;
mod sqlite;

pub use columns::{COLUMNS, Column, ColumnKind, TABLE};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

// the gateway config's types: `inputs` reads them, this module uses them
pub use crate::inputs::gateway_config::{PostgresConfig, StoreConfig};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("SQLite {what}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused, or could not be reached.
    #[error("PostgreSQL {what}")]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The PostgreSQL URL or TLS settings are unusable.
    #[error("PostgreSQL settings: {0}")]
    PostgresSettings(String),
    /// The state directory for the SQLite file cannot be created.
    #[error("{}: cannot create", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A SQLite call panicked or was cancelled.
    #[error("SQLite worker stopped")]
    Worker(#[source] tokio::task::JoinError),
}

/// What one batch write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// New rows.
    pub stored: u64,
    /// Records whose `request_id` was already stored.
    pub duplicates: u64,
    /// Records that cannot be stored (no `request_id`, or a time not in
    /// Envoy's form): skipped, so they never block the rest.
    pub invalid: u64,
}

/// Records found by a query, oldest first, and the position of the last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The records.
    pub records: Vec<AuditRecord>,
    /// `seq` of the last one (the query's `after_seq` when none).
    pub last_seq: i64,
}

/// An open store.
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL (boxed: its client and TLS settings are ten times the
    /// size of SQLite's handle).
    Postgres(Box<PostgresStore>),
}

impl Store {
    /// A PostgreSQL store (it connects and migrates at its first use).
    pub fn postgres(config: &PostgresConfig) -> Result<Store, StoreError> {
        Ok(Store::Postgres(Box::new(PostgresStore::new(config)?)))
    }

    /// `sqlite` or `postgres`: the `store` label of the audit metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Store a batch in one transaction; duplicates and invalid records
    /// are skipped.
    pub async fn write(&self, records: &[AuditRecord]) -> Result<Written, StoreError> {
        let valid: Vec<&AuditRecord> = records.iter().filter(|r| storable(r)).collect();
        let invalid = (records.len() - valid.len()) as u64;
        if valid.is_empty() {
            return Ok(Written {
                invalid,
                ..Written::default()
            });
        }
        let stored = match self {
            Store::Sqlite(s) => s.write(valid.clone()).await,
            Store::Postgres(s) => s.write(&valid).await,
        }?;
        Ok(Written {
            stored,
            duplicates: valid.len() as u64 - stored,
            invalid,
        })
    }

    /// Records matching `query`: the newest `limit`, oldest first.
    pub async fn query(&self, query: &AuditQuery) -> Result<Found, StoreError> {
        match self {
            Store::Sqlite(s) => s.query(query).await,
            Store::Postgres(s) => s.query(query).await,
        }
    }

    /// One row per (kubectl session, user, cluster, command) among the
    /// records matching `query`: the most recent `limit`, oldest first.
    pub async fn sessions(&self, query: &AuditQuery) -> Result<Vec<AuditSession>, StoreError> {
        match self {
            Store::Sqlite(s) => s.sessions(query).await,
            Store::Postgres(s) => s.sessions(query).await,
        }
    }

    /// Delete records older than `before_unix_ms`; how many went.
    pub async fn prune(&self, before_unix_ms: i64) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.prune(before_unix_ms).await,
            Store::Postgres(s) => s.prune(before_unix_ms).await,
        }
    }

    /// How many records are stored.
    pub async fn count(&self) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.count().await,
            Store::Postgres(s) => s.count().await,
        }
    }
}

/// Rows (seq, record) as a records query returned them (newest first,
/// or oldest first when following `after_seq`) → oldest first.
fn ordered(mut rows: Vec<(i64, AuditRecord)>, after_seq: i64) -> Found {
    if after_seq <= 0 {
        rows.reverse();
    }
    Found {
        last_seq: rows.last().map_or(after_seq, |(seq, _)| *seq),
        records: rows.into_iter().map(|(_, r)| r).collect(),
    }
}

/// A record the store can key and order: a `request_id`, and a time in
/// Envoy's form (PostgreSQL parses it; SQLite compares it as text).
pub fn storable(record: &AuditRecord) -> bool {
    !record.request_id.is_empty() && super::time_text::parse_unix_ms(&record.time).is_some()
}

#[cfg(test)]
mod tests;
