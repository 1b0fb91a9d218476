//! The audit store in a SQLite file (compiled in: rusqlite's `bundled`).
//! One connection, used from blocking threads; WAL so a reader never waits
//! for the writer's fsync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kubeplex_proto::admin::v1::{AuditQuery, AuditSession};
use kubeplex_proto::audit::v1::AuditRecord;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use super::columns::{COLUMNS, Cell, TABLE, cells, quoted, record};
use super::query::{self, Dialect, Sql};
use super::{Found, StoreError, ordered};

/// Schema migrations, in order: (version, SQL).
const MIGRATIONS: [(i64, &str); 1] = [(1, include_str!("migrations/sqlite_v1.sql"))];

/// An open SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { what, source }
}

impl SqliteStore {
    /// Open (create) the file and migrate its schema. Blocking.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(err("open"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(err("settings"))?;
        migrate(&mut conn).map_err(err("schema migration"))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the connection on a blocking thread.
    async fn run<R: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(StoreError::Worker)?
        .map_err(err(what))
    }

    /// Insert in one transaction; returns the rows added.
    pub async fn write(&self, records: Vec<&AuditRecord>) -> Result<u64, StoreError> {
        let rows: Vec<Vec<Cell>> = records.into_iter().map(cells).collect();
        self.run("insert", move |conn| {
            let tx = conn.transaction()?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(&insert_sql())?;
                for row in rows {
                    added += insert.execute(params_from_iter(row.into_iter().map(value)))? as u64;
                }
            }
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    /// See [`super::Store::query`].
    pub async fn query(&self, q: &AuditQuery) -> Result<Found, StoreError> {
        let sql = query::records(q, Dialect::Sqlite);
        let after = q.after_seq;
        self.run("query", move |conn| {
            let mut statement = conn.prepare(&sql.text)?;
            let mut rows = statement.query(params_from_iter(sql.params.into_iter().map(value)))?;
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let mut row_cells = Vec::with_capacity(COLUMNS.len());
                for i in 0..COLUMNS.len() {
                    row_cells.push(match row.get::<_, SqlValue>(i + 1)? {
                        SqlValue::Integer(n) => Cell::Int(n),
                        SqlValue::Text(t) => Cell::Text(t),
                        _ => Cell::Text(String::new()),
                    });
                }
                found.push((seq, record(row_cells)));
            }
            Ok(found)
        })
        .await
        .map(|rows| ordered(rows, after))
    }

    /// See [`super::Store::sessions`].
    pub async fn sessions(&self, q: &AuditQuery) -> Result<Vec<AuditSession>, StoreError> {
        let sql = query::sessions(q, Dialect::Sqlite);
        self.run("sessions query", move |conn| {
            let mut statement = conn.prepare(&sql.text)?;
            let mut rows = statement.query(params_from_iter(sql.params.into_iter().map(value)))?;
            let mut sessions = Vec::new();
            while let Some(row) = rows.next()? {
                sessions.push(AuditSession {
                    kubectl_session: row.get(0)?,
                    user: row.get(1)?,
                    cluster: row.get(2)?,
                    kubectl_command: row.get(3)?,
                    requests: row.get::<_, i64>(4)?.max(0) as u64,
                    denied: row.get::<_, i64>(5)?.max(0) as u64,
                    first_time: row.get(6)?,
                    last_time: row.get(7)?,
                });
            }
            sessions.reverse();
            Ok(sessions)
        })
        .await
    }

    /// See [`super::Store::prune`].
    pub async fn prune(&self, before_unix_ms: i64) -> Result<u64, StoreError> {
        let sql = query::prune(before_unix_ms, Dialect::Sqlite);
        self.run("prune", move |conn| execute(conn, sql)).await
    }

    /// See [`super::Store::count`].
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.run("count", |conn| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {TABLE}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
        })
        .await
    }
}

fn execute(conn: &mut Connection, sql: Sql) -> rusqlite::Result<u64> {
    conn.execute(
        &sql.text,
        params_from_iter(sql.params.into_iter().map(value)),
    )
    .map(|n| n as u64)
}

fn value(cell: Cell) -> SqlValue {
    match cell {
        Cell::Text(t) => SqlValue::Text(t),
        Cell::Int(n) => SqlValue::Integer(n),
    }
}

/// `INSERT ... ON CONFLICT DO NOTHING`: a record stored twice stays one row.
fn insert_sql() -> String {
    let names: Vec<String> = COLUMNS.iter().map(|c| quoted(c.name)).collect();
    let params: Vec<String> = (1..=COLUMNS.len()).map(|n| format!("?{n}")).collect();
    format!(
        "INSERT INTO {TABLE} ({}) VALUES ({}) ON CONFLICT (\"request_id\") DO NOTHING",
        names.join(", "),
        params.join(", ")
    )
}

/// Apply the migrations the file has not seen, each in a transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kubeplex_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM kubeplex_schema",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO kubeplex_schema (version, applied_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            [version],
        )?;
        tx.commit()?;
    }
    Ok(())
}
