//! A real SMTP relay for tests (aiosmtpd via tests/tools/smtp_sink.py) that keeps what it gets.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// A fresh folder under the system temp folder.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// A real SMTP relay that keeps what it gets; (its URL, its folder, the process).
pub async fn sink() -> (String, PathBuf, tokio::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let dir = scratch("sink");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/smtp_sink.py");
    let mut child = tokio::process::Command::new("/usr/bin/python3")
        .args([script, &port.to_string(), dir.to_str().expect("utf-8 path")])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sink starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), out.read_line(&mut line)).await.expect("sink ready").expect("read");
    assert_eq!(line.trim(), "ready");
    (format!("smtp://127.0.0.1:{port}"), dir, child)
}

pub async fn kept(dir: &std::path::Path, n: usize) -> String {
    let path = dir.join(format!("{n}.eml"));
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the relay never got message {n}");
}
