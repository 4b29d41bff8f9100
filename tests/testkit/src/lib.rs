//! Fixtures for tests that need real backing services.
//!
//! A test asks for a backend; when its server is not configured the test is skipped with a loud
//! message on a developer's machine, and fails under CI (`CI=true`), where `.ci/run` starts the
//! servers through `infra/services.sh`.

pub mod baresip;
pub mod plugins;
pub mod postgres;

use std::path::PathBuf;
use std::sync::Arc;

use switchboard_store::Store;
use switchboard_store_sql::SqlStore;

/// Whether we run under CI, where every backend suite is mandatory.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reads a service URL from `var`; None (after a loud skip notice) when unset outside CI.
///
/// # Panics
/// Under CI when the variable is unset: a mandatory suite could not run.
pub fn service_url(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if in_ci() => panic!("{what} tests are mandatory in CI but {var} is not set (run infra/services.sh start)"),
        _ => {
            // Written to the real stderr, past the test harness's capture, so a skip is seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED {what} tests: set {var} (`eval \"$(infra/services.sh env)\"`) ***\n"
            );
            None
        }
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh PostgreSQL database, used through the non-owner application role.
    Postgres,
}

/// A migrated, empty database for one test.
#[derive(Debug)]
pub struct TestDb {
    /// Which backend.
    pub kind: DbKind,
    /// The URL the application uses.
    pub app_url: String,
    /// The URL of the role that owns the schema (same as `app_url` on SQLite).
    pub owner_url: String,
    dir: Option<PathBuf>,
    admin_url: Option<String>,
    name: String,
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_owned(),
    }
}

fn replace_credentials(url: &str, user: &str, password: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{user}:{password}@{host}"),
        _ => url.to_owned(),
    }
}

impl TestDb {
    /// A fresh database of `kind`; None when PostgreSQL is not configured (outside CI).
    pub async fn new(kind: DbKind) -> Option<Self> {
        let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
        match kind {
            DbKind::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = switchboard_store_sql::sqlite_url(&dir.join("switchboard.db"));
                SqlStore::migrate(&url, None).await.expect("sqlite migrations");
                Some(Self { kind, app_url: url.clone(), owner_url: url, dir: Some(dir), admin_url: None, name })
            }
            DbKind::Postgres => {
                let admin = service_url("SWITCHBOARD_TEST_PG_URL", "PostgreSQL")?;
                sqlx::any::install_default_drivers();
                let mut conn =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
                let owner_url = replace_db(&admin, &name);
                let app_user =
                    std::env::var("SWITCHBOARD_TEST_PG_APP_USER").unwrap_or_else(|_| "switchboard_app".into());
                let app_password =
                    std::env::var("SWITCHBOARD_TEST_PG_APP_PASSWORD").unwrap_or_else(|_| "switchboard_app".into());
                SqlStore::migrate(&owner_url, Some(&app_user)).await.expect("postgres migrations");
                let app_url = replace_credentials(&owner_url, &app_user, &app_password);
                Some(Self { kind, app_url, owner_url, dir: None, admin_url: Some(admin), name })
            }
        }
    }

    /// The store as the application sees it.
    pub async fn store(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore::connect(&self.app_url).await.expect("connect store"))
    }

    /// SQLite only: takes the database's write lock from a connection of its own and holds it
    /// until the guard is dropped, so the application's writes fail once its busy timeout
    /// passes (reads go on: the database is in WAL mode).
    pub async fn hold_write_lock(&self) -> WriteLock {
        assert_eq!(self.kind, DbKind::Sqlite, "only SQLite has a database-wide write lock");
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.app_url).await.expect("connect");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("take the write lock");
        WriteLock { conn: Some(conn) }
    }

    /// Removes the database (call at the end of a test; a leftover one is harmless).
    pub async fn cleanup(self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(admin) = &self.admin_url
            && let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await
        {
            let _ =
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await;
        }
    }
}

/// SQLite's write lock, held by a test (see [`TestDb::hold_write_lock`]).
pub struct WriteLock {
    conn: Option<sqlx::AnyConnection>,
}

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteLock").finish_non_exhaustive()
    }
}

impl WriteLock {
    /// Lets go of the lock.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release the write lock");
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// Runs `body` once per backend (SQLite always; PostgreSQL when configured).
pub async fn on_each_backend<F, Fut>(body: F)
where
    F: Fn(Arc<dyn Store>, DbKind) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(db) = TestDb::new(kind).await else { continue };
        body(db.store().await, kind).await;
        db.cleanup().await;
    }
}

/// A media port for sipp: sipp binds the port and the three after it (RTCP, and video's pair),
/// so all four must be free; an even port from the ephemeral range, away from the edge's RTP
/// ranges of the tests (below 32768).
pub fn free_media_port() -> u16 {
    loop {
        let Ok(first) = std::net::UdpSocket::bind("127.0.0.1:0") else { continue };
        let Ok(addr) = first.local_addr() else { continue };
        let port = addr.port() & !1;
        if !(32_768..=65_530).contains(&port) {
            continue;
        }
        drop(first);
        let held: Vec<_> = (port..port + 4).filter_map(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok()).collect();
        if held.len() == 4 {
            return port;
        }
    }
}
