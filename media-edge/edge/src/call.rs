//! One inbound call's media and logic, in its own task: the caller's leg (RTP in and out, DTMF),
//! the IVR interpreter, the queue (hold music and position announcements), voicemail, and once an
//! agent takes the contact, the agent's phone leg bridged to the caller (transcoding G.711 both
//! ways on one 20 ms clock), hold, transfer and the stereo recording.
//! It talks to the SIP core only through messages: the core tells it what either leg did in
//! signalling (BYE, re-INVITE, INFO, the agent's phone answering), it asks the core to hang up,
//! transfer or release the agent's phone.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_ivr::{Action, Ivr, Outcome};
use switchboard_media::FRAME_SAMPLES;
use switchboard_media::audio::Player;
use switchboard_media::jitter::Frame;
use switchboard_media::recording::StereoRecorder;
use switchboard_media::sdp::Negotiated;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media_leg::MediaLeg;
use crate::platform::{
    Admission, CallEnded, CallEvent, CallIntake, CallState, IvrAsk, IvrChoice, NumberRoute, Platform, Recording,
    Voicemail,
};
use crate::prompts::Prompts;
use crate::sip_core::Event;
use crate::{CallCommand, CommandError};

/// What the SIP core tells a call.
#[derive(Debug)]
pub(crate) enum CallInput {
    /// The caller hung up (BYE answered), or the call must stop (no ACK, shutdown).
    Gone,
    /// A re-INVITE changed the caller's media (hold, resume, new address or codec).
    Renegotiated(Negotiated),
    /// A key by SIP INFO.
    Key(char),
    /// A command from the platform (not `Connect`: the core dials and reports below).
    Command(CallCommand, oneshot::Sender<Result<(), CommandError>>),
    /// The core is ringing the agent's phone for this contact.
    Connecting { contact_id: String, agent_id: String, record: bool },
    /// The agent's phone rings.
    AgentRinging,
    /// The agent's phone answered: its media.
    AgentAnswered { rtp: UdpSocket, rtcp: UdpSocket, negotiated: Negotiated, signalling_ip: IpAddr },
    /// The agent's phone could not be reached.
    AgentFailed(String),
    /// The agent's phone hung up.
    AgentGone,
    /// A re-INVITE from the agent's phone changed its media.
    AgentRenegotiated(Negotiated),
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
    pub recordings_dir: PathBuf,
    pub media_timeout: Duration,
}

/// Where the call is.
#[derive(Debug)]
enum Phase {
    /// In the IVR.
    Ivr,
    /// Waiting in a queue as this contact.
    Queued { contact: String, next_announcement: Instant, announcing: bool },
    /// An agent took the contact; their phone is being called (the caller hears music).
    Connecting { contact: String, agent_id: String, record: bool },
    /// Caller and agent talk.
    Bridged { contact: String, agent_id: String, held: bool },
    /// Beep playing, then recording until `until` (None before the beep ends).
    Voicemail { queue: Option<String>, max: Duration, samples: Vec<i16>, until: Option<Instant> },
    /// Saying goodbye, then hanging up.
    Leaving,
    /// Over.
    Done,
}

/// How long a platform request may take before the call goes on without it.
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(5);

/// A bridged call's recording, written to disk frame by frame.
struct CallRecording {
    recorder: StereoRecorder<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    contact: String,
}

struct Call {
    id: String,
    tenant: String,
    route: NumberRoute,
    caller: String,
    dialled: String,
    /// The caller's leg.
    leg: MediaLeg,
    /// The agent's phone, once it answered.
    agent: Option<MediaLeg>,
    platform: Arc<dyn Platform>,
    prompts: Arc<Prompts>,
    core: mpsc::Sender<Event>,
    /// State changes for the platform, sent in order by one task.
    reports: mpsc::UnboundedSender<CallEvent>,
    announce_every: Duration,
    recordings_dir: PathBuf,
    media_timeout: Duration,
    recording: Option<CallRecording>,
    recordings_made: u32,
    player: Player,
    playing: bool,
    ivr: Option<Ivr>,
    ivr_timer: Option<i64>,
    phase: Phase,
    attributes: BTreeMap<String, String>,
    /// Answers of the tenant's IVR plugin, asked in the background (media goes on meanwhile).
    plugin_answers: mpsc::UnboundedSender<Option<IvrChoice>>,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A socket's next datagram, or never when there is no socket.
async fn receive(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
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
        recordings_dir,
        media_timeout,
    } = setup;
    let span = tracing::info_span!("call", tenant = %route.tenant_id, call = %call_id);
    let (reports, mut queue) = mpsc::unbounded_channel::<CallEvent>();
    let reporter = platform.clone();
    tokio::spawn(async move {
        while let Some(event) = queue.recv().await {
            let state = event.state.as_str();
            if let Err(e) = reporter.call_event(event).await {
                tracing::warn!(error = %e, state, "call event not delivered");
            }
        }
    });
    let (plugin_answers, mut answers) = mpsc::unbounded_channel();
    let mut call = Call {
        plugin_answers,
        id: call_id,
        tenant: route.tenant_id.clone(),
        caller,
        dialled,
        leg: MediaLeg::new(rtp, rtcp, negotiated, signalling_ip),
        agent: None,
        platform,
        prompts,
        core,
        reports,
        announce_every,
        recordings_dir,
        media_timeout,
        recording: None,
        recordings_made: 0,
        player: Player::new(),
        playing: false,
        ivr: None,
        ivr_timer: None,
        phase: Phase::Ivr,
        attributes: BTreeMap::new(),
        route,
    };
    let answered = Instant::now();
    call.start().instrument_in(&span).await;
    let mut ticker = tokio::time::interval(Duration::from_millis(switchboard_media::FRAME_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 1500];
    let mut agent_buf = vec![0u8; 2048];
    let mut agent_rtcp_buf = vec![0u8; 1500];
    while !matches!(call.phase, Phase::Done) {
        tokio::select! {
            // Signalling first: after a BYE not one more frame goes out.
            biased;
            input = inbox.recv() => match input {
                None | Some(CallInput::Gone) => {
                    call.caller_gone().instrument_in(&span).await;
                    break;
                }
                Some(input) => call.on_input(input).instrument_in(&span).await,
            },
            Some(answer) = answers.recv() => call.plugin_answer(answer).instrument_in(&span).await,
            received = call.leg.rtp.recv_from(&mut buf) => {
                if let Ok((n, from)) = received
                    && let Some(key) = call.leg.on_rtp(&buf[..n], from)
                {
                    call.on_key(key).instrument_in(&span).await;
                }
            }
            received = call.leg.rtcp.recv_from(&mut rtcp_buf) => {
                if let Ok((n, from)) = received {
                    call.leg.on_rtcp(&rtcp_buf[..n], from);
                }
            }
            received = receive(call.agent.as_ref().map(|a| &a.rtp), &mut agent_buf) => {
                if let (Ok((n, from)), Some(agent)) = (received, call.agent.as_mut()) {
                    // The agent's keys are not for the caller's menu.
                    let _ = agent.on_rtp(&agent_buf[..n], from);
                }
            }
            received = receive(call.agent.as_ref().map(|a| &a.rtcp), &mut agent_rtcp_buf) => {
                if let (Ok((n, from)), Some(agent)) = (received, call.agent.as_mut()) {
                    agent.on_rtcp(&agent_rtcp_buf[..n], from);
                }
            }
            _ = ticker.tick() => {
                if call.leg.silent_for() > call.media_timeout {
                    tracing::info!(parent: &span, "no media from the caller: taken as gone");
                    call.caller_gone().instrument_in(&span).await;
                    break;
                }
                if call.agent.as_ref().is_some_and(|a| a.silent_for() > call.media_timeout) {
                    tracing::info!(parent: &span, "no media from the agent's phone: taken as gone");
                    call.on_input(CallInput::AgentGone).instrument_in(&span).await;
                    let _ = call.core.send(Event::ReleaseAgent { call_id: call.id.clone() }).await;
                }
                call.on_tick().instrument_in(&span).await;
            }
        }
    }
    call.stop_recording().await;
    // The call's minutes, reported once (the platform counts a Call-ID once).
    let ended = CallEnded {
        tenant_id: call.tenant.clone(),
        call_id: call.id.clone(),
        duration_ms: u64::try_from(answered.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    match tokio::time::timeout(PLATFORM_TIMEOUT, call.platform.call_ended(ended)).await {
        Ok(Ok(())) => {}
        failed => tracing::warn!(parent: &span, error = ?failed.map(|r| r.err()), "call minutes not recorded"),
    }
    tracing::info!(parent: &span, refused_packets = call.leg.packets_refused, jitter = ?call.leg.jitter.stats(), "call over");
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

    /// Tells the platform what happened to the connected contact.
    fn report(&self, contact: &str, agent_id: Option<&str>, state: CallState) {
        tracing::info!(%contact, state = state.as_str(), "call state");
        let _ = self.reports.send(CallEvent {
            tenant_id: self.tenant.clone(),
            contact_id: contact.to_owned(),
            call_id: self.id.clone(),
            agent_id: agent_id.map(str::to_owned),
            state,
        });
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
                Action::AskPlugin { step, digits } => self.ask_plugin(step, digits),
            }
        }
    }

    /// Asks the platform for the tenant's IVR plugin's choice without holding up the call; the
    /// IVR's own timer takes the default if the answer is late.
    fn ask_plugin(&self, step: String, digits: String) {
        let ask = IvrAsk {
            tenant_id: self.tenant.clone(),
            call_id: self.id.clone(),
            caller: self.caller.clone(),
            dialled: self.dialled.clone(),
            step,
            digits,
            attributes: self.attributes.clone(),
        };
        let (platform, answers) = (self.platform.clone(), self.plugin_answers.clone());
        tokio::spawn(async move {
            let answer = match tokio::time::timeout(PLATFORM_TIMEOUT, platform.ivr_step(&ask)).await {
                Ok(Ok(choice)) => choice,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, step = %ask.step, "IVR plugin step: no answer; its default applies");
                    None
                }
                Err(_) => None,
            };
            let _ = answers.send(answer);
        });
    }

    async fn plugin_answer(&mut self, answer: Option<IvrChoice>) {
        let Some(ivr) = self.ivr.as_mut() else { return };
        let answer = answer.unwrap_or_default();
        let actions = ivr.on_plugin_answer(answer.branch.as_deref(), answer.attributes, wall_ms());
        self.apply(actions).await;
    }

    fn wait_in_queue(&mut self, contact: String) {
        self.phase =
            Phase::Queued { contact, next_announcement: Instant::now() + self.announce_every, announcing: false };
        self.player.play_loop(self.prompts.music.clone());
        self.playing = false;
    }

    async fn finish(&mut self, outcome: Outcome) {
        self.ivr_timer = None;
        match outcome {
            Outcome::Enqueue { queue, priority } => {
                let queue = (!queue.is_empty()).then_some(queue).or_else(|| self.route.queue_id.clone());
                let intake = self.intake(queue, priority);
                match tokio::time::timeout(PLATFORM_TIMEOUT, self.platform.enqueue(&intake)).await {
                    Ok(Ok(Admission::Voicemail)) => {
                        tracing::info!("the tenant's plugin sends the caller to voicemail");
                        let queue = self.route.queue_id.clone();
                        self.start_voicemail(queue, Duration::from_secs(120), &["sys:leave-message".to_owned()]).await;
                    }
                    Ok(Ok(Admission::Refused(why))) => {
                        tracing::info!(%why, "the tenant's plugin refused the call");
                        self.leave(&["sys:closed".to_owned(), "sys:goodbye".to_owned()]).await;
                    }
                    Ok(Ok(Admission::Queued(contact))) => {
                        tracing::info!(%contact, "caller queued");
                        self.wait_in_queue(contact);
                        // The first position announcement comes at once.
                        if let Phase::Queued { next_announcement, .. } = &mut self.phase {
                            *next_announcement = Instant::now();
                        }
                    }
                    failed => {
                        tracing::warn!(error = ?failed.map(|r| r.err()), "enqueue failed");
                        self.leave(&["sys:busy".to_owned(), "sys:goodbye".to_owned()]).await;
                    }
                }
            }
            Outcome::Hangup => self.hang_up().await,
            Outcome::Voicemail { max_seconds, queue } => {
                let queue = queue.or_else(|| self.route.queue_id.clone());
                self.start_voicemail(queue, Duration::from_secs(u64::from(max_seconds)), &[]).await;
            }
            Outcome::Transfer { to } => {
                tracing::info!(%to, "transferring the caller");
                self.refer(to).await;
            }
        }
    }

    /// Says `intro` (if any), beeps and records until the caller hangs up or `max` passes.
    async fn start_voicemail(&mut self, queue: Option<String>, max: Duration, intro: &[String]) {
        let mut clips = self.prompts.resolve(&self.tenant, intro).await;
        clips.push(self.prompts.beep.clone());
        self.player.play(clips);
        self.playing = true;
        self.phase = Phase::Voicemail { queue, max, samples: Vec::new(), until: None };
    }

    /// Sends the caller to a number: the caller's side places the new call and hangs up on us
    /// (REFER, RFC 3515); if it never does, the transferring prompt ends and we hang up.
    async fn refer(&mut self, to: String) {
        let _ = self.core.send(Event::CallRefer { call_id: self.id.clone(), target: to }).await;
        self.leave(&["sys:transferring".to_owned()]).await;
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

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Gone => {}
            CallInput::Key(key) => self.on_key(key).await,
            CallInput::Renegotiated(n) => self.leg.renegotiated(n),
            CallInput::Command(command, reply) => {
                let result = self.on_command(command).await;
                let _ = reply.send(result);
            }
            CallInput::Connecting { contact_id, agent_id, record } => {
                // Routing connected the contact we are waiting as; anything else is stale.
                if let Phase::Queued { contact, .. } = &self.phase
                    && *contact == contact_id
                {
                    self.phase = Phase::Connecting { contact: contact_id, agent_id, record };
                    self.player.play_loop(self.prompts.music.clone());
                    self.playing = false;
                }
            }
            CallInput::AgentRinging => {
                if let Phase::Connecting { contact, agent_id, .. } = &self.phase {
                    self.report(contact, Some(agent_id), CallState::Ringing);
                }
            }
            CallInput::AgentAnswered { rtp, rtcp, negotiated, signalling_ip } => {
                let Phase::Connecting { contact, agent_id, record } =
                    std::mem::replace(&mut self.phase, Phase::Leaving)
                else {
                    // Answered after the caller moved on: the core releases the phone.
                    let _ = self.core.send(Event::ReleaseAgent { call_id: self.id.clone() }).await;
                    return;
                };
                self.player.stop();
                self.playing = false;
                self.leg.reset_incoming();
                self.agent = Some(MediaLeg::new(rtp, rtcp, negotiated, signalling_ip));
                if record {
                    self.start_recording(&contact).await;
                }
                self.report(&contact, Some(&agent_id), CallState::Bridged);
                self.phase = Phase::Bridged { contact, agent_id, held: false };
            }
            CallInput::AgentFailed(reason) => {
                if let Phase::Connecting { contact, agent_id, .. } = &self.phase {
                    let (contact, agent_id) = (contact.clone(), agent_id.clone());
                    tracing::info!(%agent_id, %reason, "agent's phone not reached");
                    self.report(&contact, Some(&agent_id), CallState::AgentUnreachable(reason));
                    // Routing puts the contact back in its queue; the caller keeps waiting.
                    self.wait_in_queue(contact);
                }
            }
            CallInput::AgentGone => {
                if let Phase::Bridged { contact, agent_id, .. } = &self.phase {
                    let (contact, agent_id) = (contact.clone(), agent_id.clone());
                    self.agent = None;
                    self.stop_recording().await;
                    self.report(&contact, Some(&agent_id), CallState::AgentHungUp);
                    self.hang_up().await;
                }
            }
            CallInput::AgentRenegotiated(n) => {
                if let Some(agent) = self.agent.as_mut() {
                    agent.renegotiated(n);
                }
            }
        }
    }

    async fn on_command(&mut self, command: CallCommand) -> Result<(), CommandError> {
        let not_connected = || CommandError::NotNow("the call is not connected to an agent".into());
        let (contact, agent_id) = match &self.phase {
            Phase::Bridged { contact, agent_id, .. } | Phase::Connecting { contact, agent_id, .. } => {
                (contact.clone(), agent_id.clone())
            }
            _ => return Err(not_connected()),
        };
        match command {
            CallCommand::Connect { .. } => Err(CommandError::NotNow("an agent is already connected".into())),
            CallCommand::Hold => {
                let Phase::Bridged { held, .. } = &mut self.phase else { return Err(not_connected()) };
                if !*held {
                    *held = true;
                    self.player.play_loop(self.prompts.music.clone());
                    self.report(&contact, Some(&agent_id), CallState::Held);
                }
                Ok(())
            }
            CallCommand::Resume => {
                let Phase::Bridged { held, .. } = &mut self.phase else { return Err(not_connected()) };
                if *held {
                    *held = false;
                    self.player.stop();
                    self.report(&contact, Some(&agent_id), CallState::Resumed);
                }
                Ok(())
            }
            CallCommand::Hangup => {
                self.release_agent().await;
                self.hang_up().await;
                Ok(())
            }
            CallCommand::TransferToNumber { number } => {
                self.release_agent().await;
                self.report(&contact, Some(&agent_id), CallState::TransferredOut(number.clone()));
                self.refer(number).await;
                Ok(())
            }
            CallCommand::Requeue => {
                self.release_agent().await;
                self.wait_in_queue(contact);
                Ok(())
            }
        }
    }

    /// Lets the agent's phone go (BYE, or CANCEL while it rings); the recording ends.
    async fn release_agent(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.bye().await;
        }
        self.stop_recording().await;
        let _ = self.core.send(Event::ReleaseAgent { call_id: self.id.clone() }).await;
    }

    async fn start_recording(&mut self, contact: &str) {
        self.recordings_made += 1;
        let safe: String = self.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(64).collect();
        let path = self.recordings_dir.join(format!("{safe}-{}.wav", self.recordings_made));
        let opened = std::fs::create_dir_all(&self.recordings_dir)
            .and_then(|()| crate::recordings::write_meta(&path, &self.tenant, contact, &self.id))
            .and_then(|()| std::fs::File::create(&path))
            .map_err(|e| e.to_string())
            .and_then(|f| StereoRecorder::new(std::io::BufWriter::new(f)).map_err(|e| e.to_string()));
        match opened {
            Ok(recorder) => self.recording = Some(CallRecording { recorder, path, contact: contact.to_owned() }),
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "recording not started");
                self.recording_failed(contact, format!("the recording could not be started: {e}"));
            }
        }
    }

    fn recording_failed(&self, contact: &str, reason: String) {
        let (platform, tenant, contact) = (self.platform.clone(), self.tenant.clone(), contact.to_owned());
        tokio::spawn(async move {
            if let Err(e) = platform.recording_failed(&tenant, &contact, &reason).await {
                tracing::error!(error = %e, "recording failure not reported");
            }
        });
    }

    /// Writes a bridged frame to the recording; a failing disk ends the recording, not the call.
    fn record(&mut self, caller: Option<&[i16]>, agent: Option<&[i16]>) {
        let Some(rec) = self.recording.as_mut() else { return };
        if let Err(e) = rec.recorder.write_frame(caller, agent) {
            let rec = self.recording.take();
            if let Some(rec) = rec {
                tracing::error!(error = %e, "recording stopped");
                let path = rec.path.clone();
                tokio::spawn(async move { crate::recordings::forget(&path).await });
                self.recording_failed(&rec.contact, format!("the recording could not be written: {e}"));
            }
        }
    }

    /// Finishes the recording file and hands it to the platform (off the media path). The file
    /// stays on disk until the platform has it, so a failed upload loses nothing.
    async fn stop_recording(&mut self) {
        let Some(rec) = self.recording.take() else { return };
        let CallRecording { recorder, path, contact } = rec;
        let (platform, tenant, call_id) = (self.platform.clone(), self.tenant.clone(), self.id.clone());
        tokio::spawn(async move {
            let summary = match recorder.finish() {
                Ok(s) => s,
                Err(e) => {
                    let reason = format!("the recording could not be finished: {e}");
                    let _ = platform.recording_failed(&tenant, &contact, &reason).await;
                    return;
                }
            };
            let wav = match tokio::fs::read(&path).await {
                Ok(w) => w,
                Err(e) => {
                    let reason = format!("the recording could not be read back: {e}");
                    let _ = platform.recording_failed(&tenant, &contact, &reason).await;
                    return;
                }
            };
            let frame_ms = switchboard_media::FRAME_MS;
            let recording = Recording {
                tenant_id: tenant.clone(),
                contact_id: contact.clone(),
                call_id,
                wav,
                duration_ms: summary.duration_ms(),
                caller_sound_ms: summary.caller_frames_with_sound * frame_ms,
                agent_sound_ms: summary.agent_frames_with_sound * frame_ms,
            };
            match platform.recording(recording).await {
                Ok(()) => crate::recordings::forget(&path).await,
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "recording kept on disk: the platform did not take it");
                    let reason = format!("the recording could not be stored: {e}");
                    let _ = platform.recording_failed(&tenant, &contact, &reason).await;
                }
            }
        });
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

    async fn on_tick(&mut self) {
        if let Phase::Bridged { held, .. } = self.phase {
            self.bridge_tick(held).await;
            return;
        }
        // Audio out: the player's frame, or silence.
        let frame = self.player.next_frame();
        self.leg.send(frame.as_ref()).await;
        // Audio in: only voicemail keeps it.
        let incoming = self.leg.jitter.pop();
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
    }

    /// One 20 ms step of a bridged call: each side's frame to the other (G.711 transcoded as
    /// needed), music to a held caller, both sides to the recording.
    async fn bridge_tick(&mut self, held: bool) {
        let from_caller = frame_samples(self.leg.jitter.pop());
        let from_agent = match self.agent.as_mut() {
            Some(agent) => frame_samples(agent.jitter.pop()),
            None => None,
        };
        if held {
            let music = self.player.next_frame();
            self.leg.send(music.as_ref()).await;
            if let Some(agent) = self.agent.as_mut() {
                agent.send(None).await;
            }
        } else {
            self.leg.send(from_agent.as_ref()).await;
            if let Some(agent) = self.agent.as_mut() {
                agent.send(from_caller.as_ref()).await;
            }
        }
        self.record(from_caller.as_ref().map(|s| &s[..]), from_agent.as_ref().map(|s| &s[..]));
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
                    self.leg.reset_incoming();
                }
            }
            Phase::Leaving => self.hang_up().await,
            Phase::Connecting { .. } | Phase::Bridged { .. } | Phase::Done => {}
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
        // The platform may have connected the contact while we asked.
        if let Phase::Queued { announcing, .. } = &mut self.phase {
            *announcing = true;
            self.play(&words).await;
        }
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
        let wav = match switchboard_media::audio::wav_bytes(&samples) {
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
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Queued { contact, .. } => {
                tracing::info!(%contact, "caller hung up while waiting");
                if let Err(e) = self.platform.abandoned(&self.tenant, &contact).await {
                    tracing::warn!(error = %e, "abandonment not recorded");
                }
            }
            Phase::Connecting { contact, agent_id, .. } | Phase::Bridged { contact, agent_id, .. } => {
                // The core releases the agent's phone when the call ends.
                if let Some(mut agent) = self.agent.take() {
                    agent.bye().await;
                }
                self.stop_recording().await;
                self.report(&contact, Some(&agent_id), CallState::CallerHungUp);
            }
            phase @ Phase::Voicemail { .. } => {
                // Hanging up is how most callers end a message.
                self.phase = phase;
                self.save_voicemail(false).await;
            }
            Phase::Ivr | Phase::Leaving | Phase::Done => {}
        }
        self.phase = Phase::Done;
        self.leg.bye().await;
    }
}

/// A jitter-buffer frame as samples to send on (None: nothing heard, send silence).
fn frame_samples(frame: Frame) -> Option<[i16; FRAME_SAMPLES]> {
    match frame {
        Frame::Idle => None,
        Frame::Audio(s) | Frame::Concealed(s) => {
            let mut out = [0i16; FRAME_SAMPLES];
            let n = s.len().min(FRAME_SAMPLES);
            out[..n].copy_from_slice(&s[..n]);
            Some(out)
        }
    }
}
