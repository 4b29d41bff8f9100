//! A console WebSocket client for tests.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::TestApp;

/// A client socket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves the app on a free loopback port.
pub async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("127.0.0.1:{}", addr.port())
}

pub async fn connect(addr: &str, token: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/agent/ws?access_token={token}"))
        .await
        .expect("websocket");
    socket
}

pub async fn next_json(s: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), s.next()).await.expect("a frame within 10 s");
        match frame.expect("socket open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).expect("json"),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Reads frames until one matches; returns it.
pub async fn until(s: &mut Socket, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let v = next_json(s).await;
        if pred(&v) {
            return v;
        }
    }
    panic!("never saw {what}");
}

pub async fn command(s: &mut Socket, cmd: Value) {
    let reference = uuid::Uuid::new_v4().to_string();
    let mut cmd = cmd;
    cmd["ref"] = json!(reference);
    s.send(Message::Text(cmd.to_string().into())).await.expect("send");
    let answer = until(s, "the command's answer", |v| v["ref"] == json!(reference)).await;
    assert_eq!(answer["type"], "ack", "{cmd} -> {answer}");
}

pub fn is_offer(v: &Value) -> bool {
    v["type"] == "contact" && v["event"] == "offered"
}

/// Every offer that arrives within `quiet` of silence.
pub async fn offers(s: &mut Socket, quiet: Duration) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(quiet, s.next()).await {
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).expect("json");
            if is_offer(&v) {
                out.insert(v["contact_id"].as_str().expect("id").to_owned());
            }
        }
    }
    out
}
