//! Calls through the edge: the IVR heard and answered (RFC 4733 and SIP INFO), the queue with hold
//! music and position announcements, abandonment, voicemail, hang-up by either side, hold by
//! re-INVITE, the per-tenant call cap, and media accepted only from the signalled peer. With
//! sipp as the carrier where a real peer matters, and a raw-socket phone where the test must
//! hear the audio or misbehave on purpose.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::net::UdpSocket;

fn menu_flow() -> serde_json::Value {
    json!({
        "start": "menu",
        "steps": {
            "menu": {"type": "gather", "prompt": [{"file": "sys:welcome"}, {"file": "sys:please-hold"}],
                     "store_as": "choice", "timeout_ms": 8000,
                     "branches": {"1": "sales", "2": "vm"}},
            "sales": {"type": "enqueue", "queue": "q-sales", "priority": 3},
            "vm": {"type": "voicemail", "prompt": [{"file": "sys:leave-message"}], "max_seconds": 30}
        }
    })
}

fn goodbye_flow() -> serde_json::Value {
    json!({"start": "bye", "steps": {"bye": {"type": "hangup", "prompt": [{"file": "sys:goodbye"}]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_presses_one_by_rfc4733_waits_and_hangs_up() {
    if sipp_path().is_none() {
        return;
    }
    let numbers = HashMap::from([
        ("+14155550111".to_owned(), route(Some(menu_flow()), None, 10)),
        ("+14155550122".to_owned(), route(Some(goodbye_flow()), None, 10)),
    ]);
    let (edge, platform) = edge_with(numbers, vec![]).await;
    let media_port = switchboard_testkit::free_media_port().to_string();
    let r = sipp(edge.udp, "call_ivr.xml", "+14155550111", "u1", &["-mi", "127.0.0.1", "-mp", &media_port]).await;
    assert!(r.ok, "the call runs to its end:\n{}", r.log);
    assert!(r.log.contains("m=audio"), "the 200 carries our SDP answer:\n{}", r.log);
    let (contact, intake) = platform.recorded(|r| r.enqueued.first().cloned()).expect("the caller was queued");
    assert_eq!(intake.queue_id.as_deref(), Some("q-sales"));
    assert_eq!(intake.priority, 3);
    assert_eq!(intake.caller, "+14155550123");
    assert_eq!(intake.dialled, "+14155550111");
    assert_eq!(intake.attributes.get("choice").map(String::as_str), Some("1"), "the key pressed is kept");
    eventually("the hang-up while waiting is an abandonment", || {
        platform.recorded(|r| r.abandoned == vec![contact.clone()])
    })
    .await;

    // A flow that ends the call: the edge sends the BYE after its goodbye (PCMA offered).
    let media_port = switchboard_testkit::free_media_port().to_string();
    let r =
        sipp(edge.udp, "call_edge_hangs_up.xml", "+14155550122", "u1", &["-mi", "127.0.0.1", "-mp", &media_port]).await;
    assert!(r.ok, "the edge hung up:\n{}", r.log);
    assert!(r.log.contains("PCMA/8000"), "PCMA was chosen:\n{}", r.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_hear_the_menu_and_hold_music_and_keys_from_elsewhere_are_ignored() {
    let numbers = HashMap::from([("+14155550111".to_owned(), route(Some(menu_flow()), None, 10))]);
    let (edge, platform) = edge_with(numbers, vec![]).await;
    let mut phone = Phone::new(edge.udp).await;
    assert_eq!(phone.call("+14155550111").await, 200);

    // The menu prompt is speech: loud frames and quiet gaps, 50 packets a second.
    let (menu, packets) = phone.listen(1000).await;
    assert!((45..=55).contains(&packets), "{packets} packets in a second");
    assert!(rms(&menu) > 500.0, "the welcome prompt is heard (rms {})", rms(&menu));

    // Media is latched to the phone's socket by its first packet; a key sprayed from another
    // port afterwards never reaches the call.
    phone.talk(5).await;
    let sprayer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    send_key(&sprayer, phone.edge_media.expect("media"), '1').await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(platform.recorded(|r| r.enqueued.is_empty()), "a key from a stranger was taken");

    phone.key('1').await;
    eventually("the caller is queued", || platform.recorded(|r| r.enqueued.len() == 1)).await;

    // Waiting: the position announcement comes first ("you are number two ... about three
    // minutes"), then music, then the announcement again after the interval (2 s here).
    let (waiting, _) = phone.listen(3000).await;
    assert!(rms(&waiting) > 500.0, "the waiting caller hears something (rms {})", rms(&waiting));
    let silent_seconds = waiting.chunks(8000).filter(|s| rms(s) < 100.0).count();
    assert_eq!(silent_seconds, 0, "no silent second while waiting");

    assert_eq!(phone.bye().await, 200);
    eventually("abandoned", || platform.recorded(|r| r.abandoned.len() == 1)).await;
    // After the BYE the edge stops sending (what was already in flight is drained first).
    let _ = phone.listen(300).await;
    let (_, after) = phone.listen(400).await;
    assert_eq!(after, 0, "media after BYE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_keys_lead_to_voicemail_which_is_kept_when_the_caller_hangs_up() {
    let numbers = HashMap::from([("+14155550111".to_owned(), route(Some(menu_flow()), Some("q-main"), 10))]);
    let (edge, platform) = edge_with(numbers, vec![]).await;
    let mut phone = Phone::new(edge.udp).await;
    assert_eq!(phone.call("+14155550111").await, 200);
    phone.talk(2).await;
    assert_eq!(phone.info_dtmf('2').await, 200);
    // "Please leave a message after the tone" (about 4 s), the beep, then speak for 1.5 s.
    let (_, _) = phone.listen(5200).await;
    phone.talk(75).await;
    assert_eq!(phone.bye().await, 200);
    eventually("the voicemail is saved", || platform.recorded(|r| r.voicemails.len() == 1)).await;
    let vm = platform.recorded(|r| r.voicemails[0].clone());
    assert_eq!(vm.call.queue_id.as_deref(), Some("q-main"), "the number's queue by default");
    assert_eq!(vm.call.attributes.get("choice").map(String::as_str), Some("2"));
    let reader = hound::WavReader::new(std::io::Cursor::new(vm.wav.clone())).expect("a WAV file");
    assert_eq!((reader.spec().channels, reader.spec().sample_rate), (1, 8000));
    let samples: Vec<i16> = reader.into_samples().collect::<Result<_, _>>().expect("samples");
    assert!(rms(&samples) > 1000.0, "the caller's voice is in it (rms {})", rms(&samples));
    assert!((1000..=3500).contains(&vm.duration_ms), "about the time spoken: {} ms", vm.duration_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_by_reinvite_stops_our_audio_and_resume_brings_it_back() {
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q-main"), 10))]);
    let (edge, platform) = edge_with(numbers, vec![]).await;
    let mut phone = Phone::new(edge.udp).await;
    assert_eq!(phone.call("+14155550111").await, 200);
    eventually("no flow: straight to the number's queue", || platform.recorded(|r| r.enqueued.len() == 1)).await;
    let (_, packets) = phone.listen(400).await;
    assert!(packets > 10);

    let held = phone.reinvite("sendonly").await;
    assert_eq!(status(&held), 200, "{held}");
    assert!(held.contains("a=recvonly"), "held: we only receive\n{held}");
    let _ = phone.listen(300).await; // in flight before the re-INVITE was answered
    let (_, packets) = phone.listen(500).await;
    assert_eq!(packets, 0, "no audio to a phone that holds us");

    let resumed = phone.reinvite("sendrecv").await;
    assert!(resumed.contains("a=sendrecv"), "{resumed}");
    let (_, packets) = phone.listen(500).await;
    assert!(packets > 15, "audio is back: {packets}");
    assert_eq!(phone.bye().await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_call_limit_gets_busy_and_bad_offers_are_refused() {
    let mut suspended = route(None, Some("q"), 1);
    suspended.unavailable = Some("Service suspended".into());
    let numbers =
        HashMap::from([("+14155550111".to_owned(), route(None, Some("q"), 1)), ("+14155550133".to_owned(), suspended)]);
    let (edge, _) = edge_with(numbers, vec![]).await;
    let mut refused = Phone::new(edge.udp).await;
    assert_eq!(refused.call("+14155550133").await, 480, "a tenant that takes no calls");
    let mut first = Phone::new(edge.udp).await;
    assert_eq!(first.call("+14155550111").await, 200);
    let mut second = Phone::new(edge.udp).await;
    assert_eq!(second.call("+14155550111").await, 486, "the second concurrent call is refused");
    assert_eq!(first.bye().await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = Phone::new(edge.udp).await;
    assert_eq!(third.call("+14155550111").await, 200, "the slot is free again");
    assert_eq!(third.bye().await, 200);
    // The slot frees when the call's task has ended, just after the BYE.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // An offer without PCMU or PCMA: 488.
    let g729 = Phone::new(edge.udp).await;
    let local = g729.sip.local_addr().expect("addr");
    let sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    let invite = format!(
        "INVITE sip:+14155550111@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKg729\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:+14155550111@{e}>\r\nCall-ID: g729@x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{local}>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        e = edge.udp
    );
    g729.send(&invite).await;
    let response = g729.final_response().await;
    assert_eq!(status(&response), 488, "{response}");
    assert!(response.contains("no common codec"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_at_its_capacity_answers_503_so_the_carrier_tries_another() {
    let numbers = HashMap::from([
        ("+14155550111".to_owned(), route(None, Some("q"), 10)),
        ("+14155550122".to_owned(), route(None, Some("q"), 10)),
    ]);
    let (edge, _) = edge_configured(numbers, vec![], |c| c.max_calls = 1).await;
    let mut first = Phone::new(edge.udp).await;
    assert_eq!(first.call("+14155550111").await, 200);
    assert_eq!(edge.control.status().await.active_calls, 1, "the heartbeat's count");
    // Another tenant, far from its own cap: the edge is full all the same.
    let full = Phone::new(edge.udp).await;
    let local = full.sip.local_addr().expect("addr");
    let invite = format!(
        "INVITE sip:+14155550122@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfull\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:+14155550122@{e}>\r\nCall-ID: full@x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{local}>\r\nContent-Length: 0\r\n\r\n",
        e = edge.udp
    );
    full.send(&invite).await;
    let response = full.final_response().await;
    assert_eq!(status(&response), 503, "{response}");
    assert_eq!(header(&response, "Retry-After"), Some("5"), "{response}");
    assert_eq!(first.bye().await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(edge.control.status().await.active_calls, 0);
    let mut again = Phone::new(edge.udp).await;
    assert_eq!(again.call("+14155550122").await, 200, "room again");
    assert_eq!(again.bye().await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_calls_from_trunks_only_other_sources_get_403_and_phones_still_register() {
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q"), 10))]);
    let (edge, _) = edge_configured(numbers, vec![], |c| {
        c.trusted_peers = vec!["127.0.0.1/32".parse().expect("block")];
        c.calls_from_trusted_only = true;
    })
    .await;
    let mut carrier = Phone::new(edge.udp).await;
    assert_eq!(carrier.call("+14155550111").await, 200, "the trunk's call is taken");
    assert_eq!(carrier.bye().await, 200);

    let stranger = UdpSocket::bind("127.0.0.5:0").await.expect("another source address");
    let local = stranger.local_addr().expect("addr");
    let invite = format!(
        "INVITE sip:+14155550111@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKstranger\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:+14155550111@{e}>\r\nCall-ID: stranger@x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{local}>\r\nContent-Length: 0\r\n\r\n",
        e = edge.udp
    );
    stranger.send_to(invite.as_bytes(), edge.udp).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let mut last = String::new();
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(2), stranger.recv_from(&mut buf)).await {
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
        if status(&last) >= 200 {
            break;
        }
    }
    assert_eq!(status(&last), 403, "{last}");
    // A phone registers from anywhere (it is challenged, not refused).
    let register = format!(
        "REGISTER sip:{e} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKreg\r\nFrom: <sip:agent@{e}>;tag=2\r\n\
To: <sip:agent@{e}>\r\nCall-ID: reg@x\r\nCSeq: 1 REGISTER\r\nContact: <sip:agent@{local}>\r\nContent-Length: 0\r\n\r\n",
        e = edge.udp
    );
    stranger.send_to(register.as_bytes(), edge.udp).await.expect("send");
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), stranger.recv_from(&mut buf))
        .await
        .expect("answered")
        .expect("recv");
    assert_eq!(status(&String::from_utf8_lossy(&buf[..n])), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_offer_gets_our_offer_in_the_200_and_its_answer_from_the_ack() {
    let numbers = HashMap::from([("+14155550111".to_owned(), route(Some(menu_flow()), None, 10))]);
    let (edge, _) = edge_with(numbers, vec![]).await;
    let mut phone = Phone::new(edge.udp).await;
    let ok = phone.call_late_offer("+14155550111", true).await;
    assert!(ok.contains("m=audio") && ok.contains("PCMU/8000") && ok.contains("PCMA/8000"), "our offer: {ok}");
    let (menu, packets) = phone.listen(1000).await;
    assert!(packets >= 40, "media flows once the ACK answered ({packets} packets)");
    assert!(rms(&menu) > 500.0, "the menu is heard (rms {})", rms(&menu));
    assert_eq!(phone.bye().await, 200);

    // An ACK without the answer leaves the call without media: the edge ends it.
    let mut mute = Phone::new(edge.udp).await;
    mute.call_late_offer("+14155550111", false).await;
    let bye = mute.answer_request(3000).await.expect("the edge hangs up");
    assert!(bye.starts_with("BYE "), "{bye}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_outside_the_trusted_blocks_is_challenged_and_taken_with_its_trunk_account() {
    if sipp_path().is_none() {
        return;
    }
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q"), 10))]);
    let (edge, _) = edge_configured(numbers, vec![], |c| {
        // Loopback, where sipp calls from, is not a trusted block: only the account lets it in.
        c.trusted_peers = vec!["192.0.2.0/24".parse().expect("block")];
        c.calls_from_trusted_only = true;
        c.trunk_accounts = vec!["carrier-1:a-long-trunk-password".parse().expect("account")];
    })
    .await;
    let right = ["-au", "carrier-1", "-ap", "a-long-trunk-password"];
    let r = sipp(edge.udp, "trunk_auth.xml", "+14155550111", "u1", &right).await;
    assert!(r.ok, "{}", r.log);
    assert_eq!((received(&r.log, "407"), received(&r.log, "200")), (1, 2), "challenged, then taken:\n{}", r.log);
    assert!(r.log.contains("Proxy-Authorization: Digest"), "{}", r.log);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(edge.control.status().await.active_calls, 0, "hung up");

    for (user, password) in [("carrier-1", "not-the-trunk-password"), ("carrier-9", "a-long-trunk-password")] {
        let wrong = ["-au", user, "-ap", password];
        let r = sipp(edge.udp, "trunk_auth.xml", "+14155550111", "u1", &wrong).await;
        assert!(r.ok, "{}", r.log);
        assert_eq!((received(&r.log, "407"), received(&r.log, "403")), (1, 1), "{user} refused:\n{}", r.log);
    }
    assert!("carrier-1:short".parse::<switchboard_edge::TrunkAccount>().is_err(), "short passwords are refused");
    let shown = format!("{:?}", "carrier-1:a-long-trunk-password".parse::<switchboard_edge::TrunkAccount>());
    assert!(!shown.contains("a-long-trunk-password"), "the password never reaches logs: {shown}");
}
