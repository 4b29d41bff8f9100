//! A PostgreSQL server of a test's own (initdb in a temp folder, its own port), for fault tests
//! that stop and restart the database: the shared server keeps serving every other test.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_store_sql::SqlStore;

/// A private PostgreSQL server, stopped and removed when dropped.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// The application role the servers' databases are used through (not the schema owner: the
/// row-level security policies apply to it).
const APP_ROLE: &str = "switchboard_app";

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn as_postgres(bin: &Path, program: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
    let tool = bin.join(program);
    Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(tool).args(args).output()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

impl PgServer {
    /// Starts a fresh server; `None` (after a loud notice) when PostgreSQL's binaries or the
    /// `postgres` user are missing outside CI.
    ///
    /// # Panics
    /// Under CI when it cannot start: the fault tests are mandatory there.
    pub fn start() -> Option<Self> {
        match Self::try_start() {
            Ok(s) => Some(s),
            Err(why) if crate::in_ci() => panic!("a private PostgreSQL server is required in CI: {why}"),
            Err(why) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "\n*** SKIPPED PostgreSQL fault tests: {why} ***\n");
                None
            }
        }
    }

    fn try_start() -> Result<Self, String> {
        let bin = bin_dir().ok_or("no PostgreSQL binaries under /usr/lib/postgresql (infra/services.sh start)")?;
        let dir = std::env::temp_dir().join(format!("sb-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let chown = Command::new("chown").arg("postgres:postgres").arg(&dir).status().map_err(|e| e.to_string())?;
        if !chown.success() {
            return Err("cannot hand a folder to the postgres user".into());
        }
        let data = dir.join("data");
        let data_s = data.display().to_string();
        let out = as_postgres(&bin, "initdb", &["-D", &data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let server = Self { bin, dir, port: free_port() };
        server.pg_ctl("start")?;
        let sql =
            format!("CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_ROLE}'; CREATE DATABASE switchboard OWNER postgres;");
        for statement in sql.split_inclusive(';') {
            let out = as_postgres(
                &server.bin,
                "psql",
                &["-h", "127.0.0.1", "-p", &server.port.to_string(), "-d", "postgres", "-qc", statement],
            )
            .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("psql failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        Ok(server)
    }

    fn pg_ctl(&self, action: &str) -> Result<(), String> {
        let data = self.dir.join("data").display().to_string();
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        // The server's output goes to a log file: left on pg_ctl's pipes, it would hold them open
        // and the wait for pg_ctl's output would never end.
        let log = self.dir.join("server.log").display().to_string();
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "-m", "fast", "-o", &options, action],
        )
        .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("pg_ctl {action}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// The schema owner's URL (migrations).
    pub fn owner_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/switchboard", self.port)
    }

    /// The application's URL.
    pub fn app_url(&self) -> String {
        format!("postgres://{APP_ROLE}:{APP_ROLE}@127.0.0.1:{}/switchboard", self.port)
    }

    /// Applies the migrations and grants the application role its tables.
    pub async fn migrate(&self) {
        SqlStore::migrate(&self.owner_url(), Some(APP_ROLE)).await.expect("migrate the private server");
    }

    /// Stops the server (fast shutdown: sessions are cut, as in a crash of the connection).
    pub fn stop(&self) {
        self.pg_ctl("stop").expect("stop PostgreSQL");
    }

    /// Starts it again after [`PgServer::stop`].
    pub fn resume(&self) {
        self.pg_ctl("start").expect("start PostgreSQL");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
