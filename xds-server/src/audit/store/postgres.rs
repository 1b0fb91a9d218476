//! The audit store in PostgreSQL. One connection, made when first needed
//! and again whenever it was lost (the store may be restarted under load:
//! the pipeline retries, this reconnects). The schema is migrated on every
//! new connection, under an advisory lock so control planes that start
//! together do not race.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kubeplex_proto::admin::v1::{AuditQuery, AuditSession};
use kubeplex_proto::audit::v1::AuditRecord;
use tokio::sync::Mutex;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::columns::{COLUMNS, Cell, ColumnKind, TABLE, cells, quoted, record};
use super::postgres_tls::MakeRustlsConnect;
use super::query::{self, Dialect, Sql};
use super::{Found, PostgresConfig, StoreError, ordered};
use crate::cluster_http::Credentials;

/// Schema migrations, in order: (version, SQL).
const MIGRATIONS: [(i32, &str); 1] = [(1, include_str!("migrations/postgres_v1.sql"))];

/// `pg_advisory_xact_lock` key of the migration ("kplx").
const MIGRATION_LOCK: i64 = 0x6b70_6c78;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn err(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { what, source }
}

/// A PostgreSQL store.
pub struct PostgresStore {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    client: Mutex<Option<Arc<Client>>>,
}

impl PostgresStore {
    /// Settings checked, no connection yet (the first use connects).
    pub fn new(settings: &PostgresConfig) -> Result<PostgresStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(settings.url.expose())
            .map_err(|e| StoreError::PostgresSettings(format!("url: {e}")))?;
        if let Some(password) = &settings.password {
            config.password(password.expose());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("kubeplex");
        }
        let credentials = Credentials {
            ca_pem: settings.ca_pem.clone(),
            ..Default::default()
        };
        let tls = credentials
            .tls_config()
            .map_err(|e| StoreError::PostgresSettings(crate::error_chain::error_chain(&e)))?;
        Ok(PostgresStore {
            config,
            tls: MakeRustlsConnect::new(tls),
            client: Mutex::new(None),
        })
    }

    /// The open connection, or a new one (migrated).
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut cached = self.client.lock().await;
        if let Some(client) = cached.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        *cached = None;
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(err("connect"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "audit store: PostgreSQL connection ended");
            }
        });
        migrate(&client).await.map_err(err("schema migration"))?;
        let client = Arc::new(client);
        *cached = Some(client.clone());
        Ok(client)
    }

    /// Run `sql` as a query.
    async fn rows(
        &self,
        what: &'static str,
        sql: &Sql,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.client().await?;
        let params = params(&sql.params);
        client.query(&sql.text, &params).await.map_err(err(what))
    }

    /// Insert in one statement (`unnest` of one array per column); returns
    /// the rows added.
    pub async fn write(&self, records: &[&AuditRecord]) -> Result<u64, StoreError> {
        let rows: Vec<Vec<Cell>> = records.iter().map(|r| cells(r)).collect();
        let arrays = column_arrays(rows);
        let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(ColumnArray::as_param).collect();
        let client = self.client().await?;
        client
            .execute(&insert_sql(), &params)
            .await
            .map_err(err("insert"))
    }

    /// See [`super::Store::query`].
    pub async fn query(&self, q: &AuditQuery) -> Result<Found, StoreError> {
        let rows = self
            .rows("query", &query::records(q, Dialect::Postgres))
            .await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0).map_err(err("query"))?;
            let mut row_cells = Vec::with_capacity(COLUMNS.len());
            for (i, column) in COLUMNS.iter().enumerate() {
                row_cells.push(match column.kind {
                    ColumnKind::Int => Cell::Int(row.try_get(i + 1).map_err(err("query"))?),
                    _ => Cell::Text(row.try_get(i + 1).map_err(err("query"))?),
                });
            }
            found.push((seq, record(row_cells)));
        }
        Ok(ordered(found, q.after_seq))
    }

    /// See [`super::Store::sessions`].
    pub async fn sessions(&self, q: &AuditQuery) -> Result<Vec<AuditSession>, StoreError> {
        let rows = self
            .rows("sessions query", &query::sessions(q, Dialect::Postgres))
            .await?;
        let read = |row: &tokio_postgres::Row| -> Result<AuditSession, tokio_postgres::Error> {
            Ok(AuditSession {
                kubectl_session: row.try_get(0)?,
                user: row.try_get(1)?,
                cluster: row.try_get(2)?,
                kubectl_command: row.try_get(3)?,
                requests: row.try_get::<_, i64>(4)?.max(0) as u64,
                denied: row.try_get::<_, i64>(5)?.max(0) as u64,
                first_time: row.try_get(6)?,
                last_time: row.try_get(7)?,
            })
        };
        let mut sessions = rows
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()
            .map_err(err("sessions query"))?;
        sessions.reverse();
        Ok(sessions)
    }

    /// See [`super::Store::prune`].
    pub async fn prune(&self, before_unix_ms: i64) -> Result<u64, StoreError> {
        let sql = query::prune(before_unix_ms, Dialect::Postgres);
        let client = self.client().await?;
        client
            .execute(&sql.text, &params(&sql.params))
            .await
            .map_err(err("prune"))
    }

    /// See [`super::Store::count`].
    pub async fn count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(&format!("SELECT COUNT(*) FROM {TABLE}"), &[])
            .await
            .map_err(err("count"))?;
        Ok(row.try_get::<_, i64>(0).map_err(err("count"))?.max(0) as u64)
    }
}

/// The parameters as tokio-postgres takes them.
fn params(cells: &[Cell]) -> Vec<&(dyn ToSql + Sync)> {
    cells
        .iter()
        .map(|c| match c {
            Cell::Text(t) => t as &(dyn ToSql + Sync),
            Cell::Int(n) => n as &(dyn ToSql + Sync),
        })
        .collect()
}

/// One column of a batch.
enum ColumnArray {
    Text(Vec<String>),
    Int(Vec<i64>),
}

impl ColumnArray {
    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            ColumnArray::Text(v) => v,
            ColumnArray::Int(v) => v,
        }
    }
}

/// Rows of cells → one array per column.
fn column_arrays(rows: Vec<Vec<Cell>>) -> Vec<ColumnArray> {
    let mut arrays: Vec<ColumnArray> = COLUMNS
        .iter()
        .map(|c| match c.kind {
            ColumnKind::Int => ColumnArray::Int(Vec::with_capacity(rows.len())),
            _ => ColumnArray::Text(Vec::with_capacity(rows.len())),
        })
        .collect();
    for row in rows {
        for (array, cell) in arrays.iter_mut().zip(row) {
            match (array, cell) {
                (ColumnArray::Text(v), Cell::Text(t)) => v.push(t),
                (ColumnArray::Int(v), Cell::Int(n)) => v.push(n),
                (ColumnArray::Text(v), Cell::Int(n)) => v.push(n.to_string()),
                (ColumnArray::Int(v), Cell::Text(_)) => v.push(0),
            }
        }
    }
    arrays
}

/// `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING`.
fn insert_sql() -> String {
    let names: Vec<String> = COLUMNS.iter().map(|c| quoted(c.name)).collect();
    let values: Vec<String> = COLUMNS
        .iter()
        .map(|c| match c.kind {
            ColumnKind::Time => format!("{}::timestamptz", quoted(c.name)),
            ColumnKind::Groups => format!("{}::jsonb", quoted(c.name)),
            _ => quoted(c.name),
        })
        .collect();
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| match c.kind {
            ColumnKind::Int => format!("${}::int8[]", i + 1),
            _ => format!("${}::text[]", i + 1),
        })
        .collect();
    format!(
        "INSERT INTO {TABLE} ({names}) SELECT {values} FROM unnest({arrays}) AS batch ({names}) \
         ON CONFLICT (\"request_id\") DO NOTHING",
        names = names.join(", "),
        values = values.join(", "),
        arrays = arrays.join(", "),
    )
}

/// Apply the migrations the database has not seen, in one transaction.
async fn migrate(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let result = async {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS kubeplex_schema \
                 (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await?;
        let current: i32 = client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM kubeplex_schema", &[])
            .await?
            .try_get(0)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            client.batch_execute(sql).await?;
            client
                .execute(
                    "INSERT INTO kubeplex_schema (version) VALUES ($1)",
                    &[version],
                )
                .await?;
        }
        Ok(())
    }
    .await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    client.batch_execute(end).await?;
    result
}
