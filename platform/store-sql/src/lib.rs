//! The `Store` on SQL databases: SQLite for the embedded default, PostgreSQL for distributed mode.
//!
//! One implementation serves both through sqlx's `Any` driver: queries are written once with
//! `$N` placeholders (rewritten to SQLite's `?N`), ids are text and times are integer
//! milliseconds, so both databases store the same values. Differences are confined to:
//! - migrations (`migrations/sqlite`, `migrations/postgres`): PostgreSQL adds row-level security;
//! - transactions: on PostgreSQL each one sets `app.tenant_id` for the RLS policies; on SQLite
//!   writes are serialised in-process (SQLite allows one writer, and a deferred transaction that
//!   upgrades to a write under contention fails instead of waiting).
//!
//! Architecture invariant: this is the only crate that contains SQL or depends on sqlx.

mod queries;

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Row, Transaction};
use switchboard_domain::TenantId;
use switchboard_store::StoreError;
use tokio::sync::{Mutex, MutexGuard};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Recognises the URL scheme.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Backend("database URL must start with sqlite: or postgres:".into()))
        }
    }
}

/// The SQL store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: one writer at a time (see the crate docs).
    write_lock: Option<Mutex<()>>,
}

/// The URL of a SQLite database file, created if missing.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn backend_err(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps a unique-constraint violation to a conflict described by `what`.
fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: what.to_owned() },
        _ => backend_err(e),
    }
}

fn valid_role_name(role: &str) -> bool {
    let mut chars = role.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && role.len() <= 63
}

impl SqlStore {
    /// Connects to `url` (`sqlite://...` or `postgres://...`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).max_connections(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        });
        let options = match backend {
            Backend::Sqlite => options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;")
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options.connect(url).await.map_err(backend_err)?;
        let write_lock = (backend == Backend::Sqlite).then(|| Mutex::new(()));
        Ok(Self { pool, backend, write_lock })
    }

    /// Applies pending migrations through `url` (on PostgreSQL, the role that owns the schema),
    /// then lets `app_role` (if given) read and write the tables without owning them.
    pub async fn migrate(url: &str, app_role: Option<&str>) -> Result<(), StoreError> {
        let store = Self::connect(url).await?;
        let migrator = match store.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&store.pool).await.map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        if let (Backend::Postgres, Some(role)) = (store.backend, app_role) {
            if !valid_role_name(role) {
                return Err(StoreError::Backend(format!("invalid application role name {role:?}")));
            }
            for stmt in [
                format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
                format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\""),
                format!("REVOKE ALL ON TABLE _sqlx_migrations FROM \"{role}\""),
            ] {
                sqlx::query(&stmt).execute(&store.pool).await.map_err(backend_err)?;
            }
        }
        store.pool.close().await;
        Ok(())
    }

    /// Which database this is.
    pub fn backend_kind(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Rewrites `$N` placeholders for SQLite (`?N`); PostgreSQL takes them as written.
    /// The database's clock in milliseconds, as an SQL expression: leases are timed by it so
    /// replicas with skewed clocks still agree on who holds one.
    fn db_now_ms(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        }
    }

    fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Postgres => Cow::Borrowed(sql),
            Backend::Sqlite => Cow::Owned(sql.replace('$', "?")),
        }
    }

    /// Begins a transaction scoped to `tenant` (RLS context on PostgreSQL), or to no tenant for
    /// the global directories. `write` serialises SQLite writers.
    async fn begin(&self, tenant: Option<TenantId>, write: bool) -> Result<Tx<'_>, StoreError> {
        let guard = match (&self.write_lock, write) {
            (Some(lock), true) => Some(lock.lock().await),
            _ => None,
        };
        // A SQLite writer takes the write lock up front: a deferred transaction that reads first
        // can fail to upgrade with "database is locked" (the busy timeout does not apply then).
        let mut tx =
            if guard.is_some() { self.pool.begin_with("BEGIN IMMEDIATE").await } else { self.pool.begin().await }
                .map_err(backend_err)?;
        if let (Backend::Postgres, Some(tenant)) = (self.backend, tenant) {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        Ok(Tx { tx, _guard: guard })
    }
}

/// A transaction plus, on SQLite, the writer lock it holds.
struct Tx<'a> {
    tx: Transaction<'static, Any>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl Tx<'_> {
    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(backend_err)
    }
}

fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn parse<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text(row, col)?.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("{col}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::of_url("sqlite://x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/db").ok(), Some(Backend::Postgres));
        assert!(Backend::of_url("mysql://h/db").is_err());
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(valid_role_name("switchboard_app"));
        assert!(!valid_role_name("app\"; DROP TABLE users; --"));
        assert!(!valid_role_name("1app"));
    }
}
