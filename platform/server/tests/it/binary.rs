//! The real `switchboard` binary: starts on a free port in a temp folder, serves, and stops
//! gracefully on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-bin-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut std::process::Child) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("switchboard exited early: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < deadline, "did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_binary_starts_serves_and_stops_gracefully() {
    let port = free_port();
    let smtp_port = free_port();
    let dir = temp_dir("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_SMTP_ADDR", format!("127.0.0.1:{smtp_port}"))
        .env("SWITCHBOARD_SIP_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_DATA_DIR", &dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_AMQP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base, &mut child).await;
    let signup = client
        .post(format!("{base}/api/v1/signup"))
        .json(&serde_json::json!({"business_name": "Acme", "email": "owner@acme.example", "password": "correct horse battery"}))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 201);
    assert!(dir.join("switchboard.db").exists(), "SQLite file in the data folder");
    assert!(dir.join("jwt.secret").exists(), "token secret kept in the data folder");
    assert!(dir.join("objects").is_dir(), "attachments folder in the data folder");
    // The SMTP listener for inbound e-mail runs in the same process.
    let mut smtp = std::net::TcpStream::connect(("127.0.0.1", smtp_port)).expect("SMTP listener");
    let mut greeting = [0u8; 64];
    let n = std::io::Read::read(&mut smtp, &mut greeting).expect("greeting");
    assert!(greeting[..n].starts_with(b"220 "), "{}", String::from_utf8_lossy(&greeting[..n]));

    // SIGTERM: the process drains and exits 0.
    let status = terminate(&mut child);
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Two platform replicas on PostgreSQL (as the non-owner application role) and RabbitMQ: a
/// tenant signed up through one logs in through the other.
#[tokio::test]
async fn platform_replicas_share_postgresql_and_rabbitmq() {
    let Some(db) = switchboard_testkit::TestDb::new(switchboard_testkit::DbKind::Postgres).await else { return };
    let Some(amqp) = switchboard_testkit::service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ") else { return };
    let client = reqwest::Client::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let dir = temp_dir("platform");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("platform")
            .env("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_SMTP_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_SIP_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_DATA_DIR", &dir)
            .env("SWITCHBOARD_DATABASE_URL", &db.app_url)
            .env("SWITCHBOARD_DATABASE_OWNER_URL", &db.owner_url)
            .env(
                "SWITCHBOARD_DATABASE_APP_ROLE",
                std::env::var("SWITCHBOARD_TEST_PG_APP_USER").unwrap_or_else(|_| "switchboard_app".into()),
            )
            .env("SWITCHBOARD_AMQP_URL", &amqp)
            .env("SWITCHBOARD_JWT_SECRET", "a-shared-secret-of-at-least-32-bytes!!")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&client, &base, &mut child).await;
        replicas.push((child, base));
    }
    let password = "correct horse battery";
    let signup = client
        .post(format!("{}/api/v1/signup", replicas[0].1))
        .json(&serde_json::json!({"business_name": "Acme", "email": "owner@acme.example", "password": password}))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 201);
    let login = client
        .post(format!("{}/api/v1/auth/login", replicas[1].1))
        .json(&serde_json::json!({"email": "owner@acme.example", "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "the other replica knows the tenant");
    let ready: serde_json::Value =
        client.get(format!("{}/readyz", replicas[1].1)).send().await.expect("readyz").json().await.expect("json");
    assert_eq!(ready, serde_json::json!({"store": "ok", "bus": "ok"}));
    let metrics =
        client.get(format!("{}/metrics", replicas[1].1)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("store=\"postgres\"") && metrics.contains("bus=\"amqp\""), "{metrics}");
    for (mut child, _) in replicas {
        assert!(terminate(&mut child).success());
    }
    db.cleanup().await;
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = temp_dir("migrate");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("migrate")
        .env("SWITCHBOARD_DATA_DIR", &dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("switchboard.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_documents_every_setting_with_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "SWITCHBOARD_CONFIG",
        "SWITCHBOARD_HTTP_ADDR",
        "SWITCHBOARD_DATA_DIR",
        "SWITCHBOARD_DATABASE_URL",
        "SWITCHBOARD_AMQP_URL",
        "SWITCHBOARD_JWT_SECRET",
        "SWITCHBOARD_SMTP_ADDR",
        "SWITCHBOARD_SMTP_RELAY_URL",
        "SWITCHBOARD_SIP_ADDR",
        "SWITCHBOARD_SIP_PUBLIC_IP",
        "SWITCHBOARD_RTP_PORTS",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }
    for sub in ["run", "platform", "migrate", "config"] {
        assert!(help.contains(sub), "--help does not list `{sub}`");
    }
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["config"])
        .env("SWITCHBOARD_DATABASE_URL", "mysql://nope")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_url"));
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["platform"])
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_AMQP_URL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_AMQP_URL"));
}
