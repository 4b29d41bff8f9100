//! The edge's SIP signalling against real peers: sipp (Debian's sip-tester) as a carrier and as
//! an agent's phone, over UDP and TCP, and raw sockets for what no well-behaved peer sends.
//! The platform side is held in memory (the seam the platform's store fills in the product).

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use switchboard_edge::EdgeHandle;
use tokio::net::UdpSocket;

async fn edge() -> EdgeHandle {
    let menu = serde_json::json!({"start": "m", "steps": {"m": {"type": "enqueue", "queue": "q1"}}});
    let numbers = HashMap::from([
        ("+14155550100".to_owned(), route(None, None, 10)),
        ("+14155550199".to_owned(), route(None, None, 10)),
        ("+14155550111".to_owned(), route(Some(menu), None, 10)),
    ]);
    edge_with(numbers, vec!["+14155550199".into()]).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carriers_get_options_refusals_and_cancel_over_udp_and_tcp() {
    if sipp_path().is_none() {
        return;
    }
    let e = edge().await;
    for transport in ["u1", "t1"] {
        let r = sipp(e.udp, "options.xml", "edge", transport, &[]).await;
        assert!(r.ok, "OPTIONS over {transport}");
        let r = sipp(e.udp, "invite_refused.xml", "+14155550123", transport, &[]).await;
        assert!(r.ok, "INVITE to an unknown number over {transport}");
        assert_eq!((received(&r.log, "100"), received(&r.log, "404")), (1, 1), "100 Trying then 404:\n{}", r.log);
        // A known number without '+' (as carriers send it) reaches the tenant's number.
        let r = sipp(e.udp, "invite_refused.xml", "14155550100", transport, &[]).await;
        assert!(
            r.ok && received(&r.log, "480") == 1,
            "the known number is found (it has no flow or queue yet: 480):\n{}",
            r.log
        );
        let r = sipp(e.udp, "cancel.xml", "+14155550199", transport, &[]).await;
        assert!(r.ok, "CANCEL while the edge decides over {transport}:\n{}", r.log);
        assert_eq!(received(&r.log, "480"), 0, "the late decision is not sent after 487");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ack_makes_the_edge_retransmit_until_it_arrives() {
    if sipp_path().is_none() {
        return;
    }
    let e = edge().await;
    let r = sipp(e.udp, "lost_ack.xml", "+14155550123", "u1", &[]).await;
    assert!(r.ok, "{}", r.log);
    let (before, after) = r
        .log
        .split_once("message sent")
        .and_then(|_| {
            let i = r.log.find("\nACK sip:")?;
            Some((&r.log[..i], &r.log[i..]))
        })
        .expect("the ACK was sent");
    assert_eq!(received(before, "404"), 3, "Timer G: the 404 and two retransmissions before the ACK:\n{}", r.log);
    assert_eq!(received(after, "404"), 0, "nothing after the ACK:\n{}", r.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_register_with_digest_and_wrong_passwords_are_refused() {
    if sipp_path().is_none() {
        return;
    }
    let e = edge().await;
    let r = sipp(e.udp, "register.xml", "agent7", "u1", &["-au", "agent7", "-ap", "s3cret-pass"]).await;
    assert!(r.ok && received(&r.log, "200") == 1, "registered:\n{}", r.log);
    let r = sipp(e.udp, "register.xml", "agent7", "t1", &["-au", "agent7", "-ap", "s3cret-pass"]).await;
    assert!(r.ok && received(&r.log, "200") == 1, "registered over TCP:\n{}", r.log);
    let r = sipp(e.udp, "register.xml", "agent7", "u1", &["-au", "agent7", "-ap", "guess"]).await;
    assert!(r.ok && received(&r.log, "403") == 1, "a wrong password is refused:\n{}", r.log);
    let r = sipp(e.udp, "register.xml", "nobody", "u1", &["-au", "nobody", "-ap", "x"]).await;
    assert!(r.ok && received(&r.log, "403") == 1, "an unknown user is refused:\n{}", r.log);
}

async fn exchange(sock: &UdpSocket, to: SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), to).await.expect("send");
    let mut buf = vec![0u8; 65_536];
    match tokio::time::timeout(Duration::from_millis(700), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

fn options(branch: &str, extra: &str) -> String {
    format!(
        "OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch}\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:edge>\r\nCall-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn malformed_sip_gets_400_or_silence_and_the_edge_lives_on() {
    let e = edge().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let bad_cseq = options("m1", "").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let r = exchange(&sock, e.udp, &bad_cseq).await.expect("answered");
    assert!(r.starts_with("SIP/2.0 400 CSeq method does not match"), "{r}");
    let unknown =
        options("m2", "").replace("OPTIONS sip:edge", "FROBNICATE sip:edge").replace("1 OPTIONS", "1 FROBNICATE");
    let r = exchange(&sock, e.udp, &unknown).await.expect("answered");
    assert!(r.starts_with("SIP/2.0 501 ") && r.contains("\r\nAllow: INVITE"), "{r}");
    for garbage in ["\x00\x01\x02", "INVITE\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", &"A".repeat(20_000)] {
        assert_eq!(exchange(&sock, e.udp, garbage).await, None, "no answer to garbage");
    }
    let r = exchange(&sock, e.udp, &options("m3", "")).await.expect("still alive");
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
}

#[tokio::test]
async fn floods_are_banned_and_scanners_hear_nothing() {
    let e = edge().await;
    let scanner = UdpSocket::bind("127.0.0.2:0").await.expect("bind another source address");
    let r = exchange(&scanner, e.udp, &options("s1", "User-Agent: friendly-scanner\r\n")).await;
    assert_eq!(r, None, "a scanner gets no answer");

    let flooder = UdpSocket::bind("127.0.0.3:0").await.expect("bind");
    let mut answered = 0;
    for i in 0..24 {
        if exchange(&flooder, e.udp, &options(&format!("f{i}"), "")).await.is_some() {
            answered += 1;
        }
    }
    assert_eq!(answered, 16, "16 requests in 2 s are answered, then the source is banned");
    let other = UdpSocket::bind("127.0.0.4:0").await.expect("bind");
    assert!(exchange(&other, e.udp, &options("o1", "")).await.is_some(), "other sources are served");
}

#[tokio::test]
async fn a_carrier_trunk_on_the_trusted_list_is_never_flood_limited() {
    let numbers = HashMap::from([("+14155550100".to_owned(), route(None, None, 10))]);
    let (e, _) = edge_configured(numbers, vec![], |c| {
        c.trusted_peers = vec!["127.0.0.8/30".parse().expect("block")];
    })
    .await;
    let trunk = UdpSocket::bind("127.0.0.9:0").await.expect("bind");
    for i in 0..40 {
        let r = exchange(&trunk, e.udp, &options(&format!("t{i}"), "")).await;
        assert!(r.is_some(), "request {i} from the trunk answered");
    }
    let outsider = UdpSocket::bind("127.0.0.12:0").await.expect("bind");
    let mut answered = 0;
    for i in 0..24 {
        answered += usize::from(exchange(&outsider, e.udp, &options(&format!("x{i}"), "")).await.is_some());
    }
    assert_eq!(answered, 16, "just outside the block, the limit holds");
}
