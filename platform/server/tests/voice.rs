//! Voice through the whole platform: IVR flows saved (and refused) through the API, a voice
//! number pointing at one, and sipp as a carrier calling it: the key pressed becomes a contact
//! attribute, the call waits in the queue as a voice contact, hanging up abandons it; a
//! voicemail becomes a contact whose recording an agent downloads. On SQLite and PostgreSQL.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn sipp_installed() -> bool {
    let ok = std::process::Command::new("sipp").arg("-v").output().is_ok();
    if !ok {
        assert!(!switchboard_testkit::in_ci(), "sipp is required in CI: run infra/services.sh tools");
        eprintln!("\n!!! SKIPPED: sipp is not installed (infra/services.sh tools installs it) !!!\n");
    }
    ok
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("port")
}

/// Starts sipp with a scenario of the edge's test suite against `edge`, calling `number`.
fn sipp(edge: std::net::SocketAddr, scenario: &str, number: &str) -> tokio::process::Child {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media-edge/edge/tests/sipp").join(scenario);
    let dir = std::env::temp_dir().join(format!("sb-voice-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("dir");
    tokio::process::Command::new("sipp")
        .current_dir(&dir)
        .args(["-sf", file.to_str().expect("path"), "-s", number, "-m", "1", "-l", "1", "-t", "u1"])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-mi",
            "127.0.0.1",
            "-mp",
            &switchboard_testkit::free_media_port().to_string(),
        ])
        .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
        .arg(edge.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sipp runs")
}

async fn voice_contacts(app: &TestApp, token: &str, channel: &str) -> Vec<Value> {
    let (_, body) = app.call("GET", &format!("/api/v1/contacts/search?channel={channel}"), Some(token), None).await;
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn wait_for<F: Fn(&[Value]) -> bool>(
    app: &TestApp,
    token: &str,
    channel: &str,
    what: &str,
    check: F,
) -> Vec<Value> {
    for _ in 0..150 {
        let contacts = voice_contacts(app, token, channel).await;
        if check(&contacts) {
            return contacts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {:?}", voice_contacts(app, token, channel).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_tenant_number_run_its_flow_and_land_in_its_queue() {
    if !sipp_installed() {
        return;
    }
    each_backend(|app| async move {
        let owner = app.signup("Voice Co", "owner@voice.example").await;
        let t = Some(owner.token.as_str());
        let (_, queue) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "Support"}))).await;
        let queue_id = queue["id"].as_str().expect("queue id").to_owned();

        // Invalid flows are refused with every problem named.
        let bad = json!({"name": "Broken", "definition": {
            "start": "menu",
            "steps": {
                "menu": {"type": "gather", "prompt": [{"file": "my-upload"}], "branches": {"1": "nowhere"}},
                "q": {"type": "enqueue", "queue": "01890000-0000-7000-8000-00000000dead"},
                "x": {"type": "transfer", "to": "12345"}
            }
        }});
        let (status, body) = app.call("POST", "/api/v1/ivr-flows", t, Some(bad)).await;
        assert_eq!(status, 422, "{body}");
        let f = fields(&body);
        for expected in [
            "definition.steps.menu.branches.1",
            "definition.steps.menu.prompt[0]",
            "definition.steps.q.queue",
            "definition.steps.x.to",
        ] {
            assert!(f.iter().any(|x| x == expected), "{expected} not in {f:?}");
        }
        let (status, body) =
            app.call("POST", "/api/v1/ivr-flows", t, Some(json!({"name": "Shape", "definition": {"steps": 3}}))).await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["definition".to_owned()]), "{body}");

        let flow = json!({"name": "Main menu", "definition": {
            "start": "menu",
            "steps": {
                "menu": {"type": "gather", "prompt": [{"file": "sys:welcome"}], "store_as": "choice", "timeout_ms": 8000,
                         "branches": {"1": "support", "2": "vm"}},
                "support": {"type": "enqueue", "queue": queue_id},
                "vm": {"type": "voicemail", "prompt": [{"file": "sys:leave-message"}], "max_seconds": 60}
            }
        }});
        let (status, flow) = app.call("POST", "/api/v1/ivr-flows", t, Some(flow)).await;
        assert_eq!(status, 201, "{flow}");
        let flow_id = flow["id"].as_str().expect("flow id");

        let (status, body) = app
            .call("POST", "/api/v1/endpoints", t, Some(json!({"kind": "email_address", "address": "in@voice.example",
                "name": "Mail", "ivr_flow_id": flow_id})))
            .await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["ivr_flow_id".to_owned()]), "only numbers have flows");
        let (status, body) = app
            .call("POST", "/api/v1/endpoints", t, Some(json!({"kind": "voice_number", "address": "+14155550177",
                "name": "Hotline", "queue_id": queue_id, "ivr_flow_id": flow_id})))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app.call("DELETE", &format!("/api/v1/ivr-flows/{flow_id}"), t, None).await;
        assert_eq!(status, 409, "a flow in use cannot be deleted: {body}");

        let mut config = switchboard_server::config::Config {
            sip_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..Default::default()
        };
        // Below the ephemeral ports sipp and test sockets get.
        let base = 12_000 + (std::process::id() % 400) as u16 * 20;
        (config.rtp_port_min, config.rtp_port_max) = (base, base + 19);
        let edge = switchboard_server::voice::start(&app.state, &config).await.expect("edge").expect("enabled");

        // Press 1, wait in the queue, hang up.
        let call = sipp(edge.udp, "call_ivr.xml", "14155550177");
        let queued = wait_for(&app, &owner.token, "voice", "the call to wait in Support", |c| {
            c.iter().any(|c| c["state"] == "queued")
        })
        .await;
        let contact = &queued[0];
        assert_eq!(contact["queue_id"], queue_id.as_str());
        assert_eq!(contact["customer"], "+14155550123");
        assert_eq!(contact["attributes"]["choice"], "1");
        assert_eq!(contact["attributes"]["dialled"], "+14155550177");
        let out = call.wait_with_output().await.expect("sipp ends");
        assert!(out.status.success(), "sipp: {}", String::from_utf8_lossy(&out.stdout));
        wait_for(&app, &owner.token, "voice", "the hang-up to abandon the contact", |c| {
            c.iter().any(|c| c["state"] == "abandoned")
        })
        .await;

        // Press 2, speak after the tone, hang up: a voicemail contact with the recording.
        let call = sipp(edge.udp, "call_voicemail.xml", "+14155550177");
        let out = call.wait_with_output().await.expect("sipp ends");
        assert!(out.status.success(), "sipp: {}", String::from_utf8_lossy(&out.stdout));
        let tasks = wait_for(&app, &owner.token, "task", "the voicemail contact", |c| !c.is_empty()).await;
        let vm = &tasks[0];
        assert_eq!(vm["attributes"]["kind"], "voicemail");
        assert_eq!(vm["attributes"]["choice"], "2");
        let id = vm["id"].as_str().expect("id");
        // The contact is stored a moment before its recording is attached (it is offered after).
        let mut messages = Value::Null;
        for _ in 0..50 {
            let (status, m) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), t, None).await;
            assert_eq!(status, 200, "{m}");
            messages = m;
            if messages["items"].as_array().is_some_and(|i| !i.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let attachment = &messages["items"][0]["attachments"][0];
        assert_eq!(attachment["content_type"], "audio/wav", "{messages}");
        let url = format!("/api/v1/contacts/{id}/attachments/{}", attachment["id"].as_str().expect("aid"));
        let req = axum::http::Request::get(&url)
            .header("authorization", format!("Bearer {}", owner.token))
            .body(axum::body::Body::empty())
            .expect("request");
        let (status, wav) = app.raw(req).await;
        assert_eq!(status, 200);
        let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV file");
        let seconds = reader.duration() as f64 / 8000.0;
        assert!((3.0..=9.0).contains(&seconds), "the message is as long as the caller spoke: {seconds:.1} s");
        let samples: Vec<i16> = reader.into_samples().collect::<Result<_, _>>().expect("samples");
        let loud = samples.iter().filter(|s| s.unsigned_abs() > 1000).count();
        assert!(loud > 4000, "the caller's voice is in it ({loud} loud samples)");
        drop(edge);
        app
    })
    .await;
}
