//! Agents on SIP phones: baresip registers with digest auth, the platform connects a waiting
//! caller to it, and the edge bridges the two legs (audio both ways, hold, hang-up from either
//! side) and records the call as a stereo WAV.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use switchboard_edge::{CallCommand, CallState};
use switchboard_testkit::baresip::{self, Baresip};

async fn registered(edge: &switchboard_edge::EdgeHandle, user: &str, phone: &Baresip) {
    for _ in 0..100 {
        if edge.control.registered().await.iter().any(|u| u == user) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{user} never registered:\n{}", phone.log());
}

fn states(platform: &Memory) -> Vec<String> {
    platform.recorded(|r| r.call_events.iter().map(|e| e.state.as_str().to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_is_bridged_to_the_agents_phone_held_resumed_and_recorded() {
    if !baresip::available() {
        return;
    }
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q1"), 10))]);
    let (edge, platform) = edge_with(numbers, vec![]).await;
    let mut agent = Baresip::start(edge.udp, "agent8", "phone-pass-8").expect("baresip");
    registered(&edge, "agent8", &agent).await;

    let mut caller = Phone::new(edge.udp).await;
    assert_eq!(caller.call("+14155550111").await, 200);
    // The IVR enqueues in its own task, after the answer.
    eventually("the call is queued", || platform.recorded(|r| !r.enqueued.is_empty())).await;
    let (contact, _) = platform.recorded(|r| r.enqueued.first().cloned()).expect("queued");
    caller.talk(5).await;

    let connect = CallCommand::Connect {
        contact_id: contact.clone(),
        agent_id: "u8".into(),
        username: "agent8".into(),
        record: true,
    };
    edge.control.command(&caller.call_id, connect).await.expect("connect");
    eventually("the agent's phone answers", || states(&platform).contains(&"bridged".to_owned())).await;
    let bridged_at = Instant::now();

    // Both ways: the caller hears the phone's 1 kHz tone; the caller's 440 Hz goes to the phone
    // (checked in the recording below).
    let talking = tokio::spawn(async move {
        caller.talk(100).await;
        caller
    });
    let mut caller = talking.await.expect("talk");
    let (heard, packets) = caller.listen(600).await;
    assert!(packets > 20, "the bridge sends the agent's audio ({packets} packets)");
    assert!(rms(&heard) > 2000.0, "the agent's tone reaches the caller (rms {})\n{}", rms(&heard), agent.log());

    // Hold: the caller hears music, the agent nothing; resume brings them back.
    edge.control.command(&caller.call_id, CallCommand::Hold).await.expect("hold");
    eventually("held", || states(&platform).contains(&"held".to_owned())).await;
    edge.control.command(&caller.call_id, CallCommand::Resume).await.expect("resume");
    eventually("resumed", || states(&platform).contains(&"resumed".to_owned())).await;
    let talking = tokio::spawn(async move {
        caller.talk(50).await;
        caller
    });
    let mut caller = talking.await.expect("talk");

    // The caller hangs up: the agent's phone is released, the recording handed over.
    assert_eq!(caller.bye().await, 200);
    let bridged_ms = bridged_at.elapsed().as_millis() as u64;
    eventually("the caller's hang-up is reported", || states(&platform).contains(&"caller_hung_up".to_owned())).await;
    eventually("the recording arrives", || platform.recorded(|r| !r.recordings.is_empty())).await;
    let rec = platform.recorded(|r| r.recordings[0].clone());
    assert_eq!(rec.contact_id, contact);
    let reader = hound::WavReader::new(std::io::Cursor::new(rec.wav.clone())).expect("a WAV");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 8000, 16));
    let samples: Vec<i16> = reader.into_samples::<i16>().map(|s| s.expect("sample")).collect();
    let file_ms = samples.len() as u64 / 2 * 1000 / 8000;
    assert_eq!(file_ms, rec.duration_ms, "the summary matches the file");
    assert!(
        file_ms + 400 >= bridged_ms && file_ms <= bridged_ms + 400,
        "the recording lasts as long as the bridge ({file_ms} ms vs {bridged_ms} ms)"
    );
    assert!(rec.caller_sound_ms >= 2000, "the caller's side has the caller's voice ({} ms)", rec.caller_sound_ms);
    assert!(rec.agent_sound_ms >= 2000, "the agent's side has the phone's tone ({} ms)", rec.agent_sound_ms);
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(rms(&left) > 1000.0 && rms(&right) > 1000.0, "sound in both channels ({} / {})", rms(&left), rms(&right));
    assert!(platform.recorded(|r| r.recordings_failed.is_empty()));
    agent.quit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_or_hanging_up_agent_phone_is_reported_and_the_caller_handled() {
    if !baresip::available() {
        return;
    }
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q1"), 10))]);
    let (edge, platform) = edge_with(numbers, vec![]).await;

    // Nobody registered as agent8 yet: reported, and the caller keeps waiting with music.
    let mut caller = Phone::new(edge.udp).await;
    assert_eq!(caller.call("+14155550111").await, 200);
    // The IVR enqueues in its own task, after the answer.
    eventually("the call is queued", || platform.recorded(|r| !r.enqueued.is_empty())).await;
    let (contact, _) = platform.recorded(|r| r.enqueued.first().cloned()).expect("queued");
    let connect = CallCommand::Connect {
        contact_id: contact.clone(),
        agent_id: "u8".into(),
        username: "agent8".into(),
        record: false,
    };
    edge.control.command(&caller.call_id, connect.clone()).await.expect("connect");
    eventually("the unreachable phone is reported", || {
        platform.recorded(|r| {
            r.call_events
                .iter()
                .any(|e| matches!(&e.state, CallState::AgentUnreachable(why) if why.contains("not registered")))
        })
    })
    .await;
    let (music, _) = caller.listen(500).await;
    assert!(rms(&music) > 300.0, "the caller still hears the queue (rms {})", rms(&music));
    assert_eq!(
        edge.control.command("no-such-call", CallCommand::Hold).await,
        Err(switchboard_edge::CommandError::NoSuchCall)
    );
    assert!(edge.control.command(&caller.call_id, CallCommand::Hold).await.is_err(), "nothing to hold yet");

    // A wrong password never registers.
    let wrong = Baresip::start(edge.udp, "agent8", "not-the-password").expect("baresip");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(edge.control.registered().await.is_empty(), "refused:\n{}", wrong.log());
    assert!(wrong.log().contains("403"), "it tried and was refused:\n{}", wrong.log());
    drop(wrong);

    // Registered, connected, then the agent quits: the caller is released with BYE.
    let mut agent = Baresip::start(edge.udp, "agent8", "phone-pass-8").expect("baresip");
    registered(&edge, "agent8", &agent).await;
    edge.control.command(&caller.call_id, connect).await.expect("connect");
    eventually("bridged", || states(&platform).contains(&"bridged".to_owned())).await;
    agent.quit();
    let bye = caller.answer_request(5000).await.expect("the edge hangs up on the caller");
    assert!(bye.starts_with("BYE "), "{bye}");
    eventually("the agent's hang-up is reported", || states(&platform).contains(&"agent_hung_up".to_owned())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_gone_without_bye_is_released_and_a_recording_left_by_a_crash_is_handed_over() {
    // A recording a previous run was writing when it died: frames flushed, never finished.
    let dir = std::env::temp_dir().join(format!("sb-left-over-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let wav = dir.join("call-1.wav");
    std::fs::write(dir.join("call-1.meta"), "t1\ncontact-9\ncall-1@carrier\n").expect("meta");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&wav).expect("file"));
        let mut recorder = switchboard_media::recording::StereoRecorder::new(file).expect("recorder");
        for _ in 0..120 {
            recorder.write_frame(Some(&[6000; 160]), Some(&[6000; 160])).expect("frame");
        }
        // The process dies: nothing after the last periodic flush is finished.
        std::mem::forget(recorder);
    }
    // Untouched for a minute: not a live call's.
    let a_minute_ago = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&wav).expect("open").set_modified(a_minute_ago).expect("mtime");
    let numbers = HashMap::from([("+14155550111".to_owned(), route(None, Some("q1"), 10))]);
    let recordings = dir.clone();
    let (edge, platform) = edge_configured(numbers, vec![], move |c| {
        c.recordings_dir = recordings;
        c.media_timeout = Duration::from_secs(2);
    })
    .await;
    eventually("the left-over recording is handed over", || platform.recorded(|r| !r.recordings.is_empty())).await;
    let rec = platform.recorded(|r| r.recordings[0].clone());
    assert_eq!(
        (rec.tenant_id.as_str(), rec.contact_id.as_str(), rec.call_id.as_str()),
        ("t1", "contact-9", "call-1@carrier")
    );
    assert!(rec.duration_ms >= 2000 && rec.caller_sound_ms >= 2000 && rec.agent_sound_ms >= 2000, "{rec:?}");
    eventually("its files are removed once taken", || !wav.exists()).await;

    // A caller whose phone vanished (no BYE, no media): released after the media timeout.
    let mut caller = Phone::new(edge.udp).await;
    assert_eq!(caller.call("+14155550111").await, 200);
    caller.talk(5).await;
    let bye = caller.answer_request(6000).await.expect("the edge hangs up on a silent caller");
    assert!(bye.starts_with("BYE "), "{bye}");
    eventually("the silent caller's wait is an abandonment", || platform.recorded(|r| r.abandoned.len() == 1)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
