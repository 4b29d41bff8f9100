//! E-mail end to end with real peers: swaks sends into the SMTP listener, agents reply through a
//! real SMTP relay (aiosmtpd), the customer's answer threads back into the conversation; refusals
//! (unknown recipients, oversized and malformed mail, bare-LF smuggling) change nothing.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::mail::{kept, scratch, sink};
use common::{Owner, TestApp, each_backend, have_tool};
use serde_json::{Value, json};
use switchboard_channels::email::smtp::Limits;
use switchboard_server::email::listener::{self, SmtpSettings};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const HELP: &str = "help@acme.test";

fn tools() -> bool {
    have_tool("swaks", &["--version"]) && have_tool("/usr/bin/python3", &["-c", "import aiosmtpd"])
}

fn settings(max_message_bytes: usize) -> SmtpSettings {
    SmtpSettings {
        hostname: "mx.switchboard.test".into(),
        limits: Limits { max_message_bytes, ..Limits::default() },
        idle: Duration::from_secs(5),
        session: Duration::from_secs(30),
        tls: None,
    }
}

async fn setup(app: &TestApp) -> (Owner, String) {
    let o = app.signup("Acme", "owner@acme.example").await;
    let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "mail"}))).await;
    let (status, e) = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some(&o.token),
            Some(json!({"kind": "email_address", "address": "Help@Acme.test", "name": "support", "queue_id": q["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    (o, q["id"].as_str().expect("queue").to_owned())
}

async fn swaks(server: SocketAddr, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new("swaks")
        .args(["--server", &server.to_string(), "--timeout", "10", "--hide-all"])
        .args(args)
        .output()
        .await
        .expect("swaks runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn contacts(app: &TestApp, o: &Owner) -> Vec<Value> {
    app.call("GET", "/api/v1/contacts", Some(&o.token), None).await.1["items"].as_array().cloned().unwrap_or_default()
}

async fn messages(app: &TestApp, o: &Owner, id: &str) -> Vec<Value> {
    let (_, m) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), None).await;
    m["items"].as_array().cloned().unwrap_or_default()
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    let head = mail.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .find(|l| {
            l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name) && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn mail_from_swaks_becomes_a_conversation_the_agent_replies_and_the_answer_threads_back() {
    if !tools() {
        return;
    }
    each_backend(|mut app| async move {
        let (o, _) = setup(&app).await;
        let smtp = listener::start(app.state.clone(), "127.0.0.1:0".parse().expect("addr"), settings(1 << 20))
            .await
            .expect("listener");
        let dir = scratch("attach");
        let file = dir.join("receipt.txt");
        std::fs::write(&file, "order 4711, paid").expect("write");
        let (code, err) = swaks(
            smtp,
            &[
                "--to",
                "help@acme.test",
                "--from",
                "cara@example.com",
                "--h-From",
                "\"Cara Customer\" <cara@example.com>",
                "--h-Subject",
                "Parcel missing",
                "--add-header",
                "Message-ID: <first@example.com>",
                "--body",
                "My parcel never arrived.",
                "--attach-type",
                "text/plain",
                "--attach-name",
                "receipt.txt",
                "--attach",
                file.to_str().expect("path"),
            ],
        )
        .await;
        assert_eq!(code, 0, "swaks: {err}");
        let list = contacts(&app, &o).await;
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(
            (list[0]["channel"].as_str(), list[0]["customer"].as_str()),
            (Some("email"), Some("cara@example.com"))
        );
        let id = list[0]["id"].as_str().expect("id").to_owned();
        let first = &messages(&app, &o, &id).await[0];
        assert_eq!(first["subject"], "Parcel missing");
        assert_eq!(first["author"], "Cara Customer");
        assert!(first["body"].as_str().expect("body").contains("My parcel never arrived."));
        let files = first["attachments"].as_array().expect("attachments");
        assert_eq!(files.len(), 1, "{first}");
        assert_eq!(
            (files[0]["name"].as_str(), files[0]["content_type"].as_str()),
            (Some("receipt.txt"), Some("text/plain"))
        );
        let key = format!("tenants/{}/attachments/{}", o.tenant_id, files[0]["id"].as_str().expect("id"));
        let bytes = app.state.objects.get(&key.as_str().into()).await.expect("stored").bytes().await.expect("bytes");
        assert_eq!(&bytes[..], b"order 4711, paid");

        // Without a relay, a reply is a clear refusal.
        app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
        assert!(app.wait_state(&o.token, &id, "offered").await);
        app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        let reply = json!({"body": "Sorry! A new parcel is on its way.\nTracking: 123"});
        let path = format!("/api/v1/contacts/{id}/messages");
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(reply.clone())).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().expect("message").contains("smtp_relay_url"));

        let (relay, kept_dir, _sink) = sink().await;
        app.set_relay(&relay);
        // The agent attaches a file: uploaded first, named on the reply.
        let upload = axum::http::Request::post(format!("/api/v1/contacts/{id}/attachments"))
            .header("authorization", format!("Bearer {}", o.token))
            .header("content-type", "application/pdf")
            .header("x-filename", "R%C3%BCcksendeschein.pdf")
            .body(axum::body::Body::from(&b"%PDF-1.4 return label"[..]))
            .expect("request");
        let (status, file) = app.send(upload).await;
        assert_eq!(status, StatusCode::CREATED, "{file}");
        assert_eq!(file["name"], "Rücksendeschein.pdf");
        let mut reply = reply;
        reply["attachment_ids"] = json!(["00000000-0000-7000-8000-000000000000"]);
        let (status, bad) = app.call("POST", &path, Some(&o.token), Some(reply.clone())).await;
        assert_eq!(
            (status, common::fields(&bad)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec!["attachment_ids[0]".to_owned()])
        );
        reply["attachment_ids"] = json!([file["id"]]);
        let (status, sent) = app.call("POST", &path, Some(&o.token), Some(reply.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        assert_eq!(sent["attachments"][0]["name"], "Rücksendeschein.pdf");
        let mail = kept(&kept_dir, 1).await;
        assert!(mail.contains("multipart/mixed"), "{mail}");
        assert!(mail.contains("Content-Disposition: attachment"), "{mail}");
        // lettre picks the transfer encoding by content: ASCII bytes may travel as they are.
        assert!(
            mail.contains("JVBERi0xLjQgcmV0dXJuIGxhYmVs") || mail.contains("%PDF-1.4 return label"),
            "the file's bytes are attached: {mail}"
        );
        // Sent once: the upload cannot ride on a second reply.
        let (status, _) = app.call("POST", &path, Some(&o.token), Some(reply)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let envelope: Value =
            serde_json::from_str(&std::fs::read_to_string(kept_dir.join("1.json")).expect("envelope")).expect("json");
        assert_eq!(envelope["mail_from"], HELP);
        assert_eq!(envelope["rcpt_tos"], json!(["cara@example.com"]));
        assert_eq!(header(&mail, "From"), Some("Acme <help@acme.test>"), "{mail}");
        assert_eq!(header(&mail, "Subject"), Some("Re: Parcel missing"));
        assert_eq!(header(&mail, "In-Reply-To"), Some("<first@example.com>"));
        assert_eq!(header(&mail, "References"), Some("<first@example.com>"));
        let our_id = header(&mail, "Message-ID").expect("message id").to_owned();
        assert!(our_id.ends_with("@acme.test>"), "{our_id}");
        assert!(mail.contains("multipart/alternative"), "{mail}");
        assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
        assert!(mail.contains("on its way.<br>"), "line breaks kept in the HTML part: {mail}");

        // The customer answers our message: it lands in the same conversation.
        let (code, err) = swaks(
            smtp,
            &[
                "--to",
                "help@acme.test",
                "--from",
                "cara@example.com",
                "--h-Subject",
                "Re: Parcel missing",
                "--add-header",
                "Message-ID: <second@example.com>",
                "--add-header",
                &format!("In-Reply-To: {our_id}"),
                "--add-header",
                &format!("References: <first@example.com> {our_id}"),
                "--body",
                "Thank you!",
            ],
        )
        .await;
        assert_eq!(code, 0, "swaks: {err}");
        assert_eq!(contacts(&app, &o).await.len(), 1, "threaded, no new contact");
        let thread = messages(&app, &o, &id).await;
        let seqs: Vec<(u64, &str)> =
            thread.iter().map(|m| (m["seq"].as_u64().expect("seq"), m["direction"].as_str().expect("dir"))).collect();
        assert_eq!(seqs, [(1, "inbound"), (2, "outbound"), (3, "inbound")]);
        // The same message again (a retry after a lost 250): recorded once.
        let (code, _) = swaks(
            smtp,
            &[
                "--to",
                "help@acme.test",
                "--from",
                "cara@example.com",
                "--add-header",
                "Message-ID: <second@example.com>",
                "--body",
                "Thank you!",
            ],
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(messages(&app, &o, &id).await.len(), 3);
        app
    })
    .await;
}

#[tokio::test]
async fn unknown_recipients_oversized_and_malformed_mail_are_refused_and_change_nothing() {
    if !tools() {
        return;
    }
    each_backend(|app| async move {
        let (o, _) = setup(&app).await;
        let smtp = listener::start(app.state.clone(), "127.0.0.1:0".parse().expect("addr"), settings(16 * 1024))
            .await
            .expect("listener");
        // Not one of ours: no relaying.
        let (code, _) = swaks(smtp, &["--to", "someone@elsewhere.test", "--from", "x@example.com"]).await;
        assert_ne!(code, 0);
        let (code, _) = swaks(smtp, &["--to", "nobody@acme.test", "--from", "x@example.com"]).await;
        assert_ne!(code, 0);
        // Too big.
        let big = "x".repeat(70).repeat(300);
        let (code, _) = swaks(smtp, &["--to", HELP, "--from", "x@example.com", "--body", &big]).await;
        assert_ne!(code, 0, "oversized mail refused");
        // Malformed: garbage instead of a header block.
        let answers = raw(
            smtp,
            &["EHLO t", "MAIL FROM:<x@example.com>", &format!("RCPT TO:<{HELP}>"), "DATA"],
            "this is not a header\r\nnor this\r\n.\r\n",
        )
        .await;
        assert!(answers.last().expect("answer").starts_with("550 5.6.0"), "{answers:?}");
        assert!(contacts(&app, &o).await.is_empty(), "nothing stored");
        let metrics = app.call("GET", "/metrics", None, None).await.1;
        assert!(metrics.as_str().unwrap_or_default().contains("switchboard_smtp_refusals_total"), "counted");
        app
    })
    .await;
}

/// Sends commands one by one (waiting for each answer), then `data` as is; every answer line.
async fn raw(server: SocketAddr, commands: &[&str], data: &str) -> Vec<String> {
    let stream = tokio::net::TcpStream::connect(server).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut answers = Vec::new();
    let read_reply = async |r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, answers: &mut Vec<String>| loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            answers.push("<closed>".into());
            return;
        }
        let done = line.as_bytes().get(3) != Some(&b'-');
        answers.push(line.trim_end().to_owned());
        if done {
            return;
        }
    };
    read_reply(&mut r, &mut answers).await;
    for c in commands {
        w.write_all(format!("{c}\r\n").as_bytes()).await.expect("write");
        read_reply(&mut r, &mut answers).await;
    }
    if !data.is_empty() {
        w.write_all(data.as_bytes()).await.expect("write");
        read_reply(&mut r, &mut answers).await;
        // Whatever else the server says before it closes.
        while answers.last().map(String::as_str) != Some("<closed>") {
            match tokio::time::timeout(Duration::from_secs(2), async { read_reply(&mut r, &mut answers).await }).await {
                Ok(()) => {}
                Err(_) => break,
            }
        }
    }
    answers
}

#[tokio::test]
async fn a_bare_lf_cannot_smuggle_a_second_message() {
    each_backend(|app| async move {
        let (o, _) = setup(&app).await;
        let smtp = listener::start(app.state.clone(), "127.0.0.1:0".parse().expect("addr"), settings(1 << 20))
            .await
            .expect("listener");
        let smuggled = format!(
            "From: a@example.com\r\nSubject: one\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<{HELP}>\r\nDATA\r\nFrom: evil@example.com\r\nSubject: two\r\n\r\nsmuggled\r\n.\r\n"
        );
        let answers =
            raw(smtp, &["EHLO t", "MAIL FROM:<a@example.com>", &format!("RCPT TO:<{HELP}>"), "DATA"], &smuggled).await;
        assert!(answers.iter().any(|a| a.starts_with("554 5.5.2")), "{answers:?}");
        assert_eq!(answers.last().map(String::as_str), Some("<closed>"), "{answers:?}");
        assert!(!answers.iter().any(|a| a.starts_with("250 2.0.0 message accepted")), "{answers:?}");
        assert!(contacts(&app, &o).await.is_empty(), "neither message stored");
        app
    })
    .await;
}

#[tokio::test]
async fn starttls_with_a_configured_certificate_and_an_idle_client_is_cut_off() {
    if !tools() {
        return;
    }
    each_backend(|app| async move {
        let (o, _) = setup(&app).await;
        let dir = scratch("tls");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).expect("write");
        std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).expect("write");
        let mut s = settings(1 << 20);
        s.tls = Some(listener::acceptor(&dir.join("cert.pem"), &dir.join("key.pem")).expect("acceptor"));
        s.idle = Duration::from_secs(1);
        let smtp = listener::start(app.state.clone(), "127.0.0.1:0".parse().expect("addr"), s).await.expect("listener");
        let (code, err) =
            swaks(smtp, &["--tls", "--to", HELP, "--from", "cara@example.com", "--body", "over TLS"]).await;
        assert_eq!(code, 0, "swaks over STARTTLS: {err}");
        assert_eq!(contacts(&app, &o).await.len(), 1);
        // A client that says nothing is told and disconnected.
        let stream = tokio::net::TcpStream::connect(smtp).await.expect("connect");
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        r.read_line(&mut line).await.expect("greeting");
        line.clear();
        tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line)).await.expect("cut off").expect("read");
        assert!(line.starts_with("421 4.4.2"), "{line}");
        app
    })
    .await;
}

#[tokio::test]
async fn replies_to_a_finished_conversation_start_one_follow_up_that_both_join() {
    if !tools() {
        return;
    }
    each_backend(|app| async move {
        let (o, _) = setup(&app).await;
        let smtp = listener::start(app.state.clone(), "127.0.0.1:0".parse().expect("addr"), settings(1 << 20))
            .await
            .expect("listener");
        let first = [
            "--to",
            HELP,
            "--from",
            "cara@example.com",
            "--add-header",
            "Message-ID: <m1@example.com>",
            "--body",
            "hi",
        ];
        assert_eq!(swaks(smtp, &first).await.0, 0);
        let id = contacts(&app, &o).await[0]["id"].as_str().expect("id").to_owned();
        app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
        assert!(app.wait_state(&o.token, &id, "offered").await);
        app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        let (status, _) = app
            .call(
                "POST",
                &format!("/api/v1/agent/contacts/{id}/complete"),
                Some(&o.token),
                Some(json!({"wrap_up_secs": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(app.wait_state(&o.token, &id, "done").await);
        // Both answer the finished conversation's message (the customer replied twice to it).
        for mid in ["<m2@example.com>", "<m3@example.com>"] {
            let reply = ["--to", HELP, "--from", "cara@example.com", "--add-header", &format!("Message-ID: {mid}")];
            let refs = "In-Reply-To: <m1@example.com>".to_owned();
            let args: Vec<&str> =
                reply.iter().copied().chain(["--add-header", refs.as_str(), "--body", "again"]).collect();
            assert_eq!(swaks(smtp, &args).await.0, 0);
        }
        let list = contacts(&app, &o).await;
        assert_eq!(list.len(), 2, "the done conversation and one follow-up: {list:?}");
        let follow = list.iter().find(|c| c["id"] != id.as_str()).expect("follow-up");
        assert_eq!(follow["attributes"]["follows"], id.as_str());
        assert_eq!(messages(&app, &o, follow["id"].as_str().expect("id")).await.len(), 2);
        app
    })
    .await;
}
