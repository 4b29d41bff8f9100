//! One inbound call's media and logic, in its own task: RTP in and out on the call's port pair,
//! DTMF, the IVR interpreter, the queue (hold music and position announcements), voicemail.
//! It talks to the SIP core only through messages: the core tells it what the caller did in
//! signalling (BYE, re-INVITE, INFO), it asks the core to hang up or transfer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_ivr::{Action, Ivr, Outcome};
use switchboard_media::audio::Player;
use switchboard_media::dtmf::DtmfReceiver;
use switchboard_media::jitter::{Frame, JitterBuffer};
use switchboard_media::rtp::{RtpPacket, RtpSender};
use switchboard_media::sdp::Negotiated;
use switchboard_media::{FRAME_MS, FRAME_SAMPLES, rtcp};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::platform::{CallIntake, NumberRoute, Platform, Voicemail};
use crate::prompts::Prompts;
use crate::sip_core::Event;

/// What the SIP core tells a call.
#[derive(Debug)]
pub(crate) enum CallInput {
    /// The caller hung up (BYE answered), or the call must stop (no ACK, shutdown).
    Gone,
    /// A re-INVITE changed the media (hold, resume, new address or codec).
    Renegotiated(Negotiated),
    /// A key by SIP INFO.
    Key(char),
}

/// Everything a call starts with.
pub(crate) struct CallSetup {
    pub call_id: String,
    pub route: NumberRoute,
    pub caller: String,
    pub dialled: String,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub negotiated: Negotiated,
    pub signalling_ip: IpAddr,
    pub platform: Arc<dyn Platform>,
    pub prompts: Arc<Prompts>,
    pub core: mpsc::Sender<Event>,
    pub inbox: mpsc::Receiver<CallInput>,
    pub announce_every: Duration,
}

/// Where the call is.
#[derive(Debug)]
enum Phase {
    /// In the IVR.
    Ivr,
    /// Waiting in a queue as this contact.
    Queued { contact: String, next_announcement: Instant, announcing: bool },
    /// Beep playing, then recording until `until` (None before the beep ends).
    Voicemail { queue: Option<String>, max: Duration, samples: Vec<i16>, until: Option<Instant> },
    /// Saying goodbye, then hanging up.
    Leaving,
    /// Over.
    Done,
}

/// How long media may come from an unexpected port of the signalled host before we stop
/// latching (RFC 7362-style symmetric RTP, once, at call start).
const LATCH_WINDOW: Duration = Duration::from_secs(10);
/// How long a platform request may take before the call goes on without it.
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(5);

struct Call {
    id: String,
    tenant: String,
    route: NumberRoute,
    caller: String,
    dialled: String,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    remote: SocketAddr,
    latched: bool,
    signalling_ip: IpAddr,
    negotiated: Negotiated,
    platform: Arc<dyn Platform>,
    prompts: Arc<Prompts>,
    core: mpsc::Sender<Event>,
    announce_every: Duration,
    started: Instant,
    player: Player,
    playing: bool,
    sender: RtpSender,
    jitter: JitterBuffer,
    dtmf: DtmfReceiver,
    ivr: Option<Ivr>,
    ivr_timer: Option<i64>,
    phase: Phase,
    attributes: BTreeMap<String, String>,
    packets_refused: u64,
    last_rtcp: Instant,
    /// Reused per frame: the encoded payload and the packet.
    payload: Vec<u8>,
    out: Vec<u8>,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Runs a call to its end.
pub(crate) async fn run(setup: CallSetup) {
    let CallSetup {
        call_id,
        route,
        caller,
        dialled,
        rtp,
        rtcp,
        negotiated,
        signalling_ip,
        platform,
        prompts,
        core,
        mut inbox,
        announce_every,
    } = setup;
    let span = tracing::info_span!("call", tenant = %route.tenant_id, call = %call_id);
    let mut call = Call {
        id: call_id,
        tenant: route.tenant_id.clone(),
        caller,
        dialled,
        rtp,
        rtcp,
        remote: negotiated.remote,
        latched: false,
        signalling_ip,
        negotiated,
        platform,
        prompts,
        core,
        announce_every,
        started: Instant::now(),
        player: Player::new(),
        playing: false,
        sender: RtpSender::new(rand::random(), rand::random(), rand::random()),
        jitter: JitterBuffer::new(negotiated.codec, 3),
        dtmf: DtmfReceiver::new(),
        ivr: None,
        ivr_timer: None,
        phase: Phase::Ivr,
        attributes: BTreeMap::new(),
        packets_refused: 0,
        last_rtcp: Instant::now(),
        payload: Vec::with_capacity(FRAME_SAMPLES),
        out: Vec::with_capacity(200),
        route,
    };
    call.start().instrument_in(&span).await;
    let mut ticker = tokio::time::interval(Duration::from_millis(FRAME_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 1500];
    while !matches!(call.phase, Phase::Done) {
        tokio::select! {
            // Signalling first: after a BYE not one more frame goes out.
            biased;
            input = inbox.recv() => match input {
                None | Some(CallInput::Gone) => {
                    call.caller_gone().instrument_in(&span).await;
                    break;
                }
                Some(CallInput::Key(key)) => call.on_key(key).instrument_in(&span).await,
                Some(CallInput::Renegotiated(n)) => call.renegotiated(n),
            },
            received = call.rtp.recv_from(&mut buf) => {
                if let Ok((n, from)) = received {
                    call.on_rtp(&buf[..n], from).instrument_in(&span).await;
                }
            }
            received = call.rtcp.recv_from(&mut rtcp_buf) => {
                if let Ok((n, from)) = received {
                    call.on_rtcp(&rtcp_buf[..n], from);
                }
            }
            _ = ticker.tick() => call.on_tick().instrument_in(&span).await,
        }
    }
    tracing::info!(parent: &span, refused_packets = call.packets_refused, jitter = ?call.jitter.stats(), "call over");
    let _ = call.core.send(Event::CallEnded { call_id: call.id.clone() }).await;
}

/// `tracing::Instrument` for a borrowed future, without the extra import at every call.
trait InSpan: std::future::Future + Sized {
    fn instrument_in(self, span: &tracing::Span) -> tracing::instrument::Instrumented<Self> {
        tracing::Instrument::instrument(self, span.clone())
    }
}
impl<F: std::future::Future> InSpan for F {}

impl Call {
    fn intake(&self, queue: Option<String>, priority: i32) -> CallIntake {
        CallIntake {
            tenant_id: self.tenant.clone(),
            endpoint_id: self.route.endpoint_id.clone(),
            call_id: self.id.clone(),
            caller: self.caller.clone(),
            dialled: self.dialled.clone(),
            queue_id: queue,
            priority,
            attributes: self.attributes.clone(),
        }
    }

    async fn start(&mut self) {
        let mut attributes = BTreeMap::new();
        attributes.insert("caller".to_owned(), self.caller.clone());
        attributes.insert("dialled".to_owned(), self.dialled.clone());
        self.attributes = attributes.clone();
        match self.route.flow.clone() {
            Some(flow) => {
                let mut ivr = Ivr::new(flow, self.route.hours.clone(), attributes);
                let actions = ivr.start(wall_ms());
                self.ivr = Some(ivr);
                self.apply(actions).await;
            }
            None => {
                let queue = self.route.queue_id.clone().unwrap_or_default();
                self.finish(Outcome::Enqueue { queue, priority: 0 }).await;
            }
        }
    }

    async fn play(&mut self, names: &[String]) {
        let clips = self.prompts.resolve(&self.tenant, names).await;
        self.player.play(clips);
        // Reported as finished on the next tick even when nothing could be played.
        self.playing = true;
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Play(names) => self.play(&names).await,
                Action::StopPlayback => {
                    self.player.stop();
                    self.playing = false;
                }
                Action::SetTimer(at) => self.ivr_timer = Some(at),
                Action::CancelTimer => self.ivr_timer = None,
                Action::SetAttribute(k, v) => {
                    self.attributes.insert(k, v);
                }
                Action::Finish(outcome) => Box::pin(self.finish(outcome)).await,
            }
        }
    }

    async fn finish(&mut self, outcome: Outcome) {
        self.ivr_timer = None;
        match outcome {
            Outcome::Enqueue { queue, priority } => {
                let queue = (!queue.is_empty()).then_some(queue).or_else(|| self.route.queue_id.clone());
                let intake = self.intake(queue, priority);
                match tokio::time::timeout(PLATFORM_TIMEOUT, self.platform.enqueue(&intake)).await {
                    Ok(Ok(contact)) => {
                        tracing::info!(%contact, "caller queued");
                        self.phase = Phase::Queued { contact, next_announcement: Instant::now(), announcing: false };
                        self.player.play_loop(self.prompts.music.clone());
                        self.playing = false;
                    }
                    failed => {
                        tracing::warn!(error = ?failed.map(|r| r.err()), "enqueue failed");
                        self.leave(&["sys:busy".to_owned(), "sys:goodbye".to_owned()]).await;
                    }
                }
            }
            Outcome::Hangup => self.hang_up().await,
            Outcome::Voicemail { max_seconds, queue } => {
                self.player.play([self.prompts.beep.clone()]);
                self.playing = true;
                self.phase = Phase::Voicemail {
                    queue: queue.or_else(|| self.route.queue_id.clone()),
                    max: Duration::from_secs(u64::from(max_seconds)),
                    samples: Vec::new(),
                    until: None,
                };
            }
            Outcome::Transfer { to } => {
                tracing::info!(%to, "transferring the caller");
                let _ = self.core.send(Event::CallRefer { call_id: self.id.clone(), target: to }).await;
                // The caller's side places the new call and hangs up on us (REFER, RFC 3515);
                // if it never does, the transferring prompt ends and we hang up.
                self.leave(&["sys:transferring".to_owned()]).await;
            }
        }
    }

    /// Says something, then hangs up.
    async fn leave(&mut self, names: &[String]) {
        self.phase = Phase::Leaving;
        self.play(names).await;
    }

    async fn hang_up(&mut self) {
        self.phase = Phase::Done;
        let _ = self.core.send(Event::CallHangup { call_id: self.id.clone() }).await;
    }

    async fn on_key(&mut self, key: char) {
        tracing::debug!(%key, "key");
        if let Some(ivr) = self.ivr.as_mut()
            && matches!(self.phase, Phase::Ivr)
        {
            let actions = ivr.on_digit(key, wall_ms());
            self.apply(actions).await;
            return;
        }
        if key == '#'
            && let Phase::Voicemail { until: Some(_), .. } = self.phase
        {
            self.save_voicemail(true).await;
        }
    }

    fn renegotiated(&mut self, n: Negotiated) {
        if !n.remote.ip().is_unspecified() && n.remote != self.negotiated.remote {
            // A new address from signalling is the new expected source.
            self.remote = n.remote;
            self.latched = false;
        }
        if n.codec != self.negotiated.codec {
            self.jitter.set_codec(n.codec);
        }
        tracing::info!(direction = ?n.remote_direction, "media renegotiated");
        self.negotiated = n;
    }

    /// RTP is taken only from the signalled peer. Before anything arrived from it, and only in
    /// the first seconds, a different port on the signalled host (or on the host that signalled)
    /// may be latched onto, once: NATs rewrite ports. Anything else is dropped.
    fn admit(&mut self, from: SocketAddr) -> bool {
        if from == self.remote {
            self.latched = true;
            return true;
        }
        let same_host = from.ip() == self.remote.ip() || from.ip() == self.signalling_ip;
        if !self.latched && same_host && self.started.elapsed() < LATCH_WINDOW {
            tracing::info!(%from, signalled = %self.remote, "RTP latched");
            self.remote = from;
            self.latched = true;
            return true;
        }
        self.packets_refused += 1;
        false
    }

    async fn on_rtp(&mut self, data: &[u8], from: SocketAddr) {
        if !self.admit(from) {
            return;
        }
        let Ok(packet) = RtpPacket::parse(data) else { return };
        if Some(packet.payload_type) == self.negotiated.dtmf_payload_type {
            if let Some(key) = self.dtmf.on_packet(packet.ssrc, packet.timestamp, packet.payload) {
                self.on_key(key).await;
            }
            return;
        }
        if packet.payload_type == self.negotiated.payload_type {
            let now = self.started.elapsed().as_millis() as u64;
            self.jitter.push(packet.ssrc, packet.timestamp, packet.payload, now);
        }
    }

    fn on_rtcp(&mut self, data: &[u8], from: SocketAddr) {
        if from.ip() != self.remote.ip() {
            return;
        }
        if let Ok(packets) = rtcp::parse_compound(data) {
            for p in packets {
                if let rtcp::RtcpPacket::ReceiverReport { reports, .. } | rtcp::RtcpPacket::SenderReport { reports, .. } =
                    &p
                    && let Some(r) = reports.iter().find(|r| r.ssrc == self.sender.ssrc)
                {
                    tracing::debug!(lost = r.cumulative_lost, jitter = r.jitter, "peer's report");
                }
            }
        }
    }

    async fn on_tick(&mut self) {
        // Audio out: the player's frame, or silence, unless the peer holds us.
        let frame = self.player.next_frame();
        if self.negotiated.remote_direction.receives() && !self.remote.ip().is_unspecified() {
            let samples = frame.unwrap_or([0; FRAME_SAMPLES]);
            self.payload.clear();
            self.negotiated.codec.encode(&samples, &mut self.payload);
            self.sender.audio(self.negotiated.payload_type, &self.payload, &mut self.out);
            let _ = self.rtp.send_to(&self.out, self.remote).await;
        } else {
            self.sender.skip(FRAME_SAMPLES as u32);
        }
        // Audio in: only voicemail keeps it (for now).
        let incoming = self.jitter.pop();
        let mut voicemail_over = false;
        if let Phase::Voicemail { samples, until: Some(until), .. } = &mut self.phase {
            match incoming {
                Frame::Idle => samples.extend_from_slice(&[0; FRAME_SAMPLES]),
                Frame::Audio(s) | Frame::Concealed(s) => samples.extend_from_slice(&s),
            }
            voicemail_over = Instant::now() >= *until;
        }
        if voicemail_over {
            self.save_voicemail(true).await;
            return;
        }
        if self.playing && frame.is_none() {
            self.playing = false;
            self.playback_done().await;
        }
        if let Some(at) = self.ivr_timer
            && wall_ms() >= at
            && let Some(ivr) = self.ivr.as_mut()
        {
            self.ivr_timer = None;
            let actions = ivr.on_timer(wall_ms());
            self.apply(actions).await;
        }
        if let Phase::Queued { contact, next_announcement, announcing: false } = &self.phase
            && Instant::now() >= *next_announcement
        {
            let contact = contact.clone();
            self.announce(&contact).await;
        }
        if self.last_rtcp.elapsed() >= Duration::from_secs(5) {
            self.send_rtcp().await;
        }
    }

    async fn playback_done(&mut self) {
        match &mut self.phase {
            Phase::Ivr => {
                if let Some(ivr) = self.ivr.as_mut() {
                    let actions = ivr.on_playback_done(wall_ms());
                    self.apply(actions).await;
                }
            }
            Phase::Queued { announcing, next_announcement, .. } => {
                *announcing = false;
                *next_announcement = Instant::now() + self.announce_every;
                self.player.play_loop(self.prompts.music.clone());
            }
            Phase::Voicemail { until, max, .. } => {
                if until.is_none() {
                    // The beep ended: record from now.
                    *until = Some(Instant::now() + *max);
                    self.jitter = JitterBuffer::new(self.negotiated.codec, 3);
                }
            }
            Phase::Leaving => self.hang_up().await,
            Phase::Done => {}
        }
    }

    /// "You are number N in the queue. Your estimated wait is about M minutes."
    async fn announce(&mut self, contact: &str) {
        let position = tokio::time::timeout(PLATFORM_TIMEOUT, self.platform.position(&self.tenant, contact)).await;
        let mut words = Vec::new();
        match position {
            Ok(Ok(Some(p))) => {
                words.push("sys:position".to_owned());
                words.extend(switchboard_ivr::number_words(i64::from(p.position)));
                words.push("sys:in-queue".to_owned());
                match p.estimated_wait_secs {
                    Some(s) if s < 60 => words.push("sys:less-than-a-minute".to_owned()),
                    Some(s) => {
                        let minutes = i64::from(s.div_ceil(60));
                        words.push("sys:wait".to_owned());
                        words.extend(switchboard_ivr::number_words(minutes));
                        words.push(if minutes == 1 { "sys:minute" } else { "sys:minutes" }.to_owned());
                    }
                    None => {}
                }
            }
            // No longer waiting (being offered) or the platform is slow: just keep the music.
            _ => words.push("sys:please-hold".to_owned()),
        }
        if let Phase::Queued { announcing, .. } = &mut self.phase {
            *announcing = true;
        }
        self.play(&words).await;
    }

    async fn save_voicemail(&mut self, caller_still_here: bool) {
        let Phase::Voicemail { queue, samples, until, .. } = std::mem::replace(&mut self.phase, Phase::Leaving) else {
            return;
        };
        if until.is_none() || samples.is_empty() {
            // Hung up during the beep: nothing was said.
            if caller_still_here {
                self.hang_up().await;
            }
            return;
        }
        let duration_ms = samples.len() as u64 * 1000 / u64::from(switchboard_media::SAMPLE_RATE);
        let wav = match mono_wav(&samples) {
            Ok(wav) => wav,
            Err(e) => {
                tracing::error!(error = %e, "voicemail could not be encoded");
                return;
            }
        };
        let voicemail = Voicemail { call: self.intake(queue, 0), wav, duration_ms };
        // A voicemail is accepted content: it must not be lost to a slow platform.
        match tokio::time::timeout(PLATFORM_TIMEOUT * 6, self.platform.voicemail(voicemail)).await {
            Ok(Ok(contact)) => tracing::info!(%contact, duration_ms, "voicemail saved"),
            failed => tracing::error!(error = ?failed.map(|r| r.err()), "voicemail not saved"),
        }
        if caller_still_here {
            self.leave(&["sys:voicemail-saved".to_owned(), "sys:goodbye".to_owned()]).await;
        }
    }

    async fn caller_gone(&mut self) {
        match &self.phase {
            Phase::Queued { contact, .. } => {
                let contact = contact.clone();
                tracing::info!(%contact, "caller hung up while waiting");
                if let Err(e) = self.platform.abandoned(&self.tenant, &contact).await {
                    tracing::warn!(error = %e, "abandonment not recorded");
                }
            }
            Phase::Voicemail { .. } => {
                // Hanging up is how most callers end a message.
                self.save_voicemail(false).await;
            }
            Phase::Ivr | Phase::Leaving | Phase::Done => {}
        }
        self.phase = Phase::Done;
        let mut bye = Vec::new();
        rtcp::write_bye(self.sender.ssrc, "switchboard", &mut bye);
        let _ = self.rtcp.send_to(&bye, SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1))).await;
    }

    async fn send_rtcp(&mut self) {
        self.last_rtcp = Instant::now();
        if self.remote.ip().is_unspecified() {
            return;
        }
        let ntp = ntp_now();
        let sent = Some((ntp, self.sender.timestamp(), self.sender.packets, self.sender.octets));
        let stats = self.jitter.stats();
        let block = (stats.received > 0).then(|| rtcp::ReportBlock {
            ssrc: 0,
            fraction_lost: 0,
            cumulative_lost: stats.concealed.min(0x7F_FFFF) as i32,
            highest_sequence: 0,
            jitter: self.jitter.jitter(),
            last_sr: 0,
            delay_since_last_sr: 0,
        });
        let mut out = Vec::new();
        rtcp::write_report(self.sender.ssrc, sent, block, "switchboard", &mut out);
        let _ = self.rtcp.send_to(&out, SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1))).await;
    }
}

fn ntp_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() + 2_208_988_800;
    let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn mono_wav(samples: &[i16]) -> Result<Vec<u8>, hound::Error> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec)?;
    for &s in samples {
        writer.write_sample(s)?;
    }
    writer.finalize()?;
    Ok(out.into_inner())
}
