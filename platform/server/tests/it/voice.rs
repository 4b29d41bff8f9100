//! Voice through the whole platform: IVR flows saved (and refused) through the API, a voice
//! number pointing at one, and sipp as a carrier calling it: the key pressed becomes a contact
//! attribute, the call waits in the queue as a voice contact, hanging up abandons it; a
//! voicemail becomes a contact whose recording an agent downloads. On SQLite and PostgreSQL.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use switchboard_testkit::DbKind;

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

/// The test's edge. On SQLite it runs inside the app (the embedded default). On PostgreSQL it
/// runs as a stand-alone edge (what `switchboard edge` starts) linked to the app over the control
/// link, the app served on a real socket: the way distributed deployments run, so every voice test
/// here covers both.
struct TestEdge {
    udp: std::net::SocketAddr,
    _handle: switchboard_edge::EdgeHandle,
    _link: Option<switchboard_edge::link::Link>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

const EDGE_TOKEN: &str = "edge-token-for-tests-edge-token-for-tests";

/// Starts the edge on loopback, its RTP ports below the ephemeral ports sipp and test sockets
/// get, recordings under a fresh data folder.
async fn start_edge(app: &TestApp) -> TestEdge {
    let mut config = switchboard_server::config::Config {
        sip_addr: Some("127.0.0.1:0".parse().expect("addr")),
        ..Default::default()
    };
    let base = 12_000 + (std::process::id() % 400) as u16 * 20;
    (config.rtp_port_min, config.rtp_port_max) = (base, base + 19);
    config.data_dir = std::env::temp_dir().join(format!("sb-voice-data-{}", free_port()));
    if app.kind == DbKind::Sqlite {
        let handle = switchboard_server::voice::start(&app.state, &config).await.expect("edge").expect("enabled");
        // No edge token configured: the control link does not exist.
        let (status, _) =
            app.call("POST", "/api/v1/edge/ask", None, Some(json!({"kind": "number", "number": "+1"}))).await;
        assert_eq!(status, 404, "links are off without an edge token");
        return TestEdge { udp: handle.udp, _handle: handle, _link: None, server: None };
    }
    // The platform: no edge of its own, links accepted.
    let platform =
        switchboard_server::config::Config { sip_addr: None, edge_token: Some(EDGE_TOKEN.into()), ..config.clone() };
    assert!(switchboard_server::voice::start(&app.state, &platform).await.expect("voice").is_none());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    config.edge_token = Some(EDGE_TOKEN.into());
    config.platform_url = Some(url);
    config.edge_id = Some("test-edge".into());
    config.edge_region = "test-region".into();
    let (handle, link) = switchboard_server::voice::start_linked_edge(&config).await.expect("linked edge");
    let mut state = link.state();
    tokio::time::timeout(Duration::from_secs(10), state.wait_for(|s| *s == switchboard_edge::link::LinkState::Up))
        .await
        .expect("the edge links within 10 s")
        .expect("link state");
    let linked = app.state.voice.edges.linked();
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!((linked[0].edge_id.as_str(), linked[0].region.as_str()), ("test-edge", "test-region"));
    assert_eq!(linked[0].sip, handle.udp.to_string(), "the edge says where carriers reach it");
    TestEdge { udp: handle.udp, _handle: handle, _link: Some(link), server: Some(server) }
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

        let edge = start_edge(&app).await;

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

        // Both answered calls count towards the tenant's voice minutes, each rounded up to a
        // started minute and counted once.
        let tenant: switchboard_domain::TenantId = owner.tenant_id.parse().expect("tenant id");
        let mut minutes = 0;
        for _ in 0..100 {
            let totals = app.state.store.usage_totals(tenant, 0, i64::MAX).await.expect("usage");
            minutes = totals.iter().find(|(k, _)| *k == switchboard_domain::UsageKind::VoiceMinutes).map_or(0, |t| t.1);
            if minutes >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(minutes, 2, "two calls of under a minute each");

        // The voicemail is stored recording: one started megabyte a day, sampled once a day.
        let day = 86_400_000;
        let now = 1_800_000_000_000; // a fixed day, so the test never straddles midnight
        let storage = |app: &TestApp| {
            let store = app.state.store.clone();
            async move {
                let totals = store.usage_totals(tenant, 0, i64::MAX).await.expect("usage");
                totals.iter().find(|(k, _)| *k == switchboard_domain::UsageKind::RecordingStorage).map_or(0, |t| t.1)
            }
        };
        let counted = switchboard_server::billing::accrue_recording_storage(&app.state, tenant, now).await.expect("sampled");
        assert_eq!(counted, 1, "a short voicemail is under a megabyte");
        switchboard_server::billing::accrue_recording_storage(&app.state, tenant, now + 3_600_000).await.expect("again");
        assert_eq!(storage(&app).await, 1, "sampled twice the same day, counted once");
        switchboard_server::billing::accrue_recording_storage(&app.state, tenant, now + day).await.expect("next day");
        assert_eq!(storage(&app).await, 2, "the next day counts again: megabyte-days");
        drop(edge);
        app
    })
    .await;
}

/// Waits until the contact `id` is in `state`.
async fn contact_state(app: &TestApp, token: &str, id: &str, state: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(token), None).await;
        if c["state"] == state {
            return c;
        }
        last = c;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("contact {id} never became {state}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_a_call_on_a_sip_phone_holds_hangs_up_and_the_call_is_recorded() {
    if !sipp_installed() || !switchboard_testkit::baresip::available() {
        return;
    }
    each_backend(|mut app| async move {
        app.allow_private_targets();
        let owner = app.signup("Desk Co", "owner@desk.example").await;
        let t = Some(owner.token.as_str());
        let (_, queue) =
            app.call("POST", "/api/v1/queues", t, Some(json!({"name": "Support", "record_calls": true}))).await;
        let queue_id = queue["id"].as_str().expect("queue id").to_owned();
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/endpoints",
                t,
                Some(json!({"kind": "voice_number", "address": "+14155550188",
                "name": "Hotline", "queue_id": queue_id})),
            )
            .await;
        assert_eq!(status, 201, "{body}");

        // The recording webhook.
        let (hits, url) = {
            let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let seen = hits.clone();
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |body: String| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().expect("lock").push(body);
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (hits, url)
        };
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                t,
                Some(json!({"name": "Recordings", "url": url, "events": ["recording.*"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let settings = switchboard_server::webhooks::WebhookSettings {
            retry_base: Duration::from_millis(100),
            max_attempts: 3,
            allow_private: true,
        };
        switchboard_server::webhooks::Webhooks::new(app.state.store.clone(), app.state.bus.clone(), settings)
            .start()
            .await
            .expect("webhook worker");

        // The agent's phone login: validated, unique across tenants, never shown back.
        let path = format!("/api/v1/users/{}/sip-account", owner.user_id);
        let (status, body) =
            app.call("PUT", &path, t, Some(json!({"username": "Desk Owner", "password": "short"}))).await;
        assert_eq!(
            (status.as_u16(), fields(&body)),
            (422, vec!["username".to_owned(), "password".to_owned()]),
            "{body}"
        );
        let login = json!({"username": "desk-owner", "password": "correct-horse-battery"});
        let (status, body) = app.call("PUT", &path, t, Some(login.clone())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["username"].as_str(), body["realm"].as_str()), (Some("desk-owner"), Some("switchboard")));
        assert!(!body.to_string().contains("horse"), "the password is never shown: {body}");
        let other = app.signup("Other Co", "owner@other.example").await;
        let (status, body) = app
            .call("PUT", &format!("/api/v1/users/{}/sip-account", other.user_id), Some(&other.token), Some(login))
            .await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["username".to_owned()]), "taken: {body}");

        let edge = start_edge(&app).await;

        let phone = switchboard_testkit::baresip::Baresip::start(edge.udp, "desk-owner", "correct-horse-battery")
            .expect("baresip");
        let mut registered = false;
        for _ in 0..100 {
            let (_, body) = app.call("GET", &path, t, None).await;
            if body["registered"] == true {
                registered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(registered, "the phone registers:\n{}", phone.log());

        let (status, body) = app.call("PUT", "/api/v1/agent/presence", t, Some(json!({"status": "available"}))).await;
        assert_eq!(status, 200, "{body}");

        // A caller waits; the agent accepts in the console; their desk phone rings and answers.
        let call = sipp(edge.udp, "call_agent.xml", "+14155550188");
        let offered = wait_for(&app, &owner.token, "voice", "the call offered to the agent", |c| {
            c.iter().any(|c| c["state"] == "offered")
        })
        .await;
        let id = offered[0]["id"].as_str().expect("id").to_owned();
        let (status, body) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), t, None).await;
        assert_eq!(status, 204, "{body}");
        contact_state(&app, &owner.token, &id, "connected").await;

        // Bridged: hold and resume work once the phone answered.
        let hold = format!("/api/v1/agent/contacts/{id}/call/hold");
        let mut held = false;
        for _ in 0..50 {
            let (status, _) = app.call("POST", &hold, t, None).await;
            if status == 204 {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(held, "the call was bridged to the phone:\n{}", phone.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, body) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/call/resume"), t, None).await;
        assert_eq!(status, 204, "{body}");
        tokio::time::sleep(Duration::from_secs(4)).await;

        // Another tenant cannot touch the call.
        let (status, _) = app.call("POST", &hold, Some(&other.token), None).await;
        assert_eq!(status, 404);

        // The agent hangs up from the console: the caller gets the edge's BYE.
        let (status, body) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/call/hangup"), t, None).await;
        assert_eq!(status, 204, "{body}");
        let out = call.wait_with_output().await.expect("sipp ends");
        assert!(out.status.success(), "sipp got our BYE: {}", String::from_utf8_lossy(&out.stdout));

        // The recording: kept with the conversation (internal), stereo, sound on both sides.
        let mut recording = Value::Null;
        for _ in 0..100 {
            let (status, m) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), t, None).await;
            assert_eq!(status, 200, "{m}");
            if let Some(r) = m["items"].as_array().and_then(|i| i.iter().find(|x| x["direction"] == "internal")) {
                recording = r.clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let attachment = &recording["attachments"][0];
        assert_eq!(attachment["content_type"], "audio/wav", "{recording}");
        let aid = attachment["id"].as_str().expect("aid");
        let url = format!("/api/v1/contacts/{id}/attachments/{aid}");
        let get = |token: &str| {
            axum::http::Request::get(&url)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let (status, _) = app.raw(get(&other.token)).await;
        assert_eq!(status, 404, "another tenant cannot download it");
        let (status, wav) = app.raw(get(&owner.token)).await;
        assert_eq!(status, 200);
        let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV file");
        assert_eq!(reader.spec().channels, 2);
        let seconds = reader.duration() as f64 / 8000.0;
        assert!((4.0..=40.0).contains(&seconds), "as long as the bridge: {seconds:.1} s");
        let samples: Vec<i16> = reader.into_samples().collect::<Result<_, _>>().expect("samples");
        let loud = |side: usize| samples.iter().skip(side).step_by(2).filter(|s| s.unsigned_abs() > 1000).count();
        assert!(loud(0) > 4000, "the caller's side has the caller ({} loud samples)", loud(0));
        assert!(loud(1) > 4000, "the agent's side has the phone's tone ({} loud samples)", loud(1));

        // The tenant's webhook heard about it.
        let mut delivered = Vec::new();
        for _ in 0..100 {
            delivered = hits.lock().expect("lock").clone();
            if !delivered.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let event: Value = serde_json::from_str(delivered.first().expect("a recording webhook")).expect("json");
        assert_eq!(event["type"], "recording.saved", "{event}");
        assert_eq!(event["data"]["contact_id"], id.as_str(), "{event}");

        // The contact is still the agent's to finish.
        contact_state(&app, &owner.token, &id, "connected").await;
        let (status, body) = app.call("POST", &hold, t, None).await;
        assert_eq!(status, 409, "no call to hold any more: {body}");
        drop(phone);
        drop(edge);
        app
    })
    .await;
}

/// A stereo 16 kHz WAV of a tone, `secs` long (uploads are converted, whatever their format).
fn stereo_tone(secs: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).expect("wav");
    for i in 0..secs * 16_000 {
        let v = ((i as f32 * 2.0 * std::f32::consts::PI * 600.0 / 16_000.0).sin() * 9000.0) as i16;
        w.write_sample(v).expect("left");
        w.write_sample(v).expect("right");
    }
    w.finalize().expect("wav");
    out.into_inner()
}

async fn upload(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (axum::http::StatusCode, Value) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "audio/wav")
        .body(axum::body::Body::from(body))
        .expect("request");
    app.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_plays_the_tenants_uploaded_prompt() {
    if !sipp_installed() {
        return;
    }
    each_backend(|app| async move {
        let owner = app.signup("Prompt Co", "owner@prompt.example").await;
        let t = Some(owner.token.as_str());

        // Bad uploads are refused with the reason; a good one is converted to 8 kHz mono.
        let (status, body) =
            upload(&app, &owner.token, "POST", "/api/v1/prompts?name=greeting", b"not a wav".to_vec()).await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["body".to_owned()]), "{body}");
        let (status, body) =
            upload(&app, &owner.token, "POST", "/api/v1/prompts?name=Bad%20Name", stereo_tone(1)).await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["name".to_owned()]), "{body}");
        let (status, body) = upload(&app, &owner.token, "POST", "/api/v1/prompts?name=greeting", stereo_tone(3)).await;
        assert_eq!(status, 201, "{body}");
        assert!((2_900..=3_100).contains(&body["duration_ms"].as_u64().expect("ms")), "{body}");
        let (status, body) = upload(&app, &owner.token, "POST", "/api/v1/prompts?name=greeting", stereo_tone(1)).await;
        assert_eq!(status, 422, "names are unique: {body}");
        let (status, wav) = app
            .raw(
                axum::http::Request::get("/api/v1/prompts/greeting")
                    .header("authorization", format!("Bearer {}", owner.token))
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(status, 200);
        let spec = hound::WavReader::new(std::io::Cursor::new(wav)).expect("wav").spec();
        assert_eq!((spec.channels, spec.sample_rate), (1, 8000));

        // Flows may only name prompts that exist.
        let flow = |file: &str| {
            json!({"name": format!("Hello {file}"), "definition": {"start": "hi",
                "steps": {"hi": {"type": "hangup", "prompt": [{"file": file}]}}}})
        };
        let (status, body) = app.call("POST", "/api/v1/ivr-flows", t, Some(flow("missing"))).await;
        assert_eq!((status.as_u16(), fields(&body)), (422, vec!["definition.steps.hi.prompt[0]".to_owned()]), "{body}");
        let (status, created) = app.call("POST", "/api/v1/ivr-flows", t, Some(flow("greeting"))).await;
        assert_eq!(status, 201, "{created}");
        let (status, body) = app.call("DELETE", "/api/v1/prompts/greeting", t, None).await;
        assert_eq!(status, 409, "a prompt in use stays: {body}");

        let (status, body) = app
            .call(
                "POST",
                "/api/v1/endpoints",
                t,
                Some(json!({"kind": "voice_number", "address": "+14155550199",
                "name": "Greeting line", "ivr_flow_id": created["id"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let edge = start_edge(&app).await;

        // The caller hears the 3 s greeting, then the edge hangs up.
        let started = std::time::Instant::now();
        let out = sipp(edge.udp, "call_edge_hangs_up.xml", "+14155550199").wait_with_output().await.expect("sipp");
        assert!(out.status.success(), "sipp: {}", String::from_utf8_lossy(&out.stdout));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(2_900), "the uploaded prompt was played first ({took:?})");
        drop(edge);
        app
    })
    .await;
}

/// Uploads and activates a tenant plugin, granting `grants` and setting `secrets`.
async fn plugin(app: &TestApp, token: &str, name: &str, wasm: Vec<u8>, grants: Value, secrets: &[(&str, &str)]) {
    let req = axum::http::Request::post(format!("/api/v1/plugins?name={name}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/wasm")
        .body(axum::body::Body::from(wasm))
        .expect("request");
    let (status, p) = app.send(req).await;
    assert_eq!(status, 201, "{p}");
    let t = Some(token);
    let (status, p) =
        app.call("POST", &format!("/api/v1/plugins/{name}/activate"), t, Some(json!({"version": 1}))).await;
    assert_eq!(status, 200, "{p}");
    app.call("PUT", &format!("/api/v1/plugins/{name}/grants"), t, Some(grants)).await;
    for (secret, value) in secrets {
        app.call("POST", "/api/v1/plugin-secrets", t, Some(json!({"name": secret, "value": value}))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_choose_the_ivr_branch_and_send_after_hours_calls_to_voicemail() {
    if !sipp_installed() {
        return;
    }
    let (Some(language), Some(hours)) = (
        switchboard_testkit::plugins::guest("example-language-routing"),
        switchboard_testkit::plugins::guest("example-business-hours"),
    ) else {
        return;
    };
    each_backend(|app| {
        let (language, hours) = (language.clone(), hours.clone());
        async move {
            // A tenant whose IVR asks its language plugin which queue a caller belongs in.
            let owner = app.signup("Polyglot Voice", "owner@polyglot.example").await;
            let t = Some(owner.token.as_str());
            let (_, support) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "support"}))).await;
            let (_, spanish) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "support-es"}))).await;
            app.call("POST", "/api/v1/skills", t, Some(json!({"name": "spanish"}))).await;
            let flow = json!({"name": "Language", "definition": {
                "start": "menu",
                "steps": {
                    "menu": {"type": "gather", "prompt": [{"file": "sys:welcome"}], "store_as": "choice",
                             "timeout_ms": 8000, "default": "language"},
                    "language": {"type": "plugin", "branches": {"en": "support", "es": "spanish"}, "default": "support"},
                    "support": {"type": "enqueue", "queue": support["id"]},
                    "spanish": {"type": "enqueue", "queue": spanish["id"], "priority": 10}
                }
            }});
            let (status, flow) = app.call("POST", "/api/v1/ivr-flows", t, Some(flow)).await;
            assert_eq!(status, 201, "{flow}");
            let (status, body) = app
                .call("POST", "/api/v1/endpoints", t, Some(json!({"kind": "voice_number", "address": "+14155550177",
                    "name": "Hotline", "queue_id": support["id"], "ivr_flow_id": flow["id"]})))
                .await;
            assert_eq!(status, 201, "{body}");
            plugin(&app, &owner.token, "language", language, json!({}), &[]).await;

            // A tenant closed all week: its calls go to voicemail.
            let closed = app.signup("Closed Co", "owner@closed.example").await;
            let c = Some(closed.token.as_str());
            let (_, queue) = app.call("POST", "/api/v1/queues", c, Some(json!({"name": "messages"}))).await;
            let (status, body) = app
                .call("POST", "/api/v1/endpoints", c, Some(json!({"kind": "voice_number", "address": "+14155550178",
                    "name": "Office", "queue_id": queue["id"]})))
                .await;
            assert_eq!(status, 201, "{body}");
            let schedule = r#"{"week": {}, "holidays": []}"#;
            plugin(&app, &closed.token, "hours", hours, json!({"secrets": ["schedule"]}), &[("schedule", schedule)])
                .await;

            let edge = start_edge(&app).await;
            // Key 2 at the menu: the plugin says Spanish.
            let call = sipp(edge.udp, "call_voicemail.xml", "+14155550177");
            let queued = wait_for(&app, &owner.token, "voice", "the caller in support-es", |c| !c.is_empty()).await;
            let contact = &queued[0];
            assert_eq!(contact["queue_id"], spanish["id"], "{contact}");
            assert_eq!(contact["attributes"]["choice"], "2");
            assert_eq!(contact["attributes"]["ivr_language"], "es", "set by on-ivr: {contact}");
            assert_eq!(contact["attributes"]["language"], "es", "set by on-contact: {contact}");
            let out = call.wait_with_output().await.expect("sipp ends");
            assert!(out.status.success(), "sipp: {}", String::from_utf8_lossy(&out.stdout));
            let (_, calls) = app.call("GET", "/api/v1/plugins/language/calls", t, None).await;
            let ivr = calls["items"].as_array().expect("items").iter().find(|c| c["hook"] == "on-ivr").cloned();
            assert!(ivr.is_some_and(|c| c["detail"] == "branch es, ivr_language=es"), "{calls}");

            // The closed tenant: no contact waits; the message left becomes a voicemail contact.
            let call = sipp(edge.udp, "call_voicemail.xml", "+14155550178");
            let out = call.wait_with_output().await.expect("sipp ends");
            assert!(out.status.success(), "sipp: {}", String::from_utf8_lossy(&out.stdout));
            let tasks = wait_for(&app, &closed.token, "task", "the voicemail", |c| !c.is_empty()).await;
            assert_eq!(tasks[0]["attributes"]["kind"], "voicemail", "{tasks:?}");
            assert!(voice_contacts(&app, &closed.token, "voice").await.is_empty(), "the call never queued");
            drop(edge);
            app
        }
    })
    .await;
}
