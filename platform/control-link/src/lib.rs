//! The control link between the platform and its edge media nodes: the versioned messages both
//! sides speak (serde, no IO). An edge that runs as its own process (`switchboard edge`):
//!
//! - keeps one WebSocket open to a platform replica ([`LINK_PATH`]): it says [`Hello`] (who it is,
//!   its region and capacity), then heartbeats ([`Heartbeat`]: calls in progress, phones
//!   registered); the platform sends [`PlatformFrame::Command`]s for its calls down the same
//!   socket and the edge answers each with [`EdgeFrame::CommandDone`];
//! - asks the platform over plain HTTP ([`ASK_PATH`], an [`Ask`] in, an [`Answer`] out), so any
//!   replica can answer and nothing is lost with a socket;
//! - sends audio (voicemails, recordings) as raw HTTP bodies with their [`VoicemailMeta`] or
//!   [`RecordingMeta`] as JSON in the `meta` query parameter, and fetches tenant prompts as WAV.
//!
//! Every request carries the deployment's edge token as a bearer token. The embedded default uses
//! the same types without the wire: the edge inside `switchboard` calls the platform directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_domain::BusinessHours;

/// The protocol version this build speaks. A platform refuses an edge whose version it does not
/// know, with a reason the edge logs.
pub const VERSION: u32 = 1;

/// The WebSocket an edge keeps open.
pub const LINK_PATH: &str = "/api/v1/edge/link";
/// Where an edge posts its [`Ask`]s.
pub const ASK_PATH: &str = "/api/v1/edge/ask";
/// Where an edge posts a voicemail's WAV (`?meta=` [`VoicemailMeta`]); answers [`Answer::Contact`].
pub const VOICEMAIL_PATH: &str = "/api/v1/edge/voicemails";
/// Where an edge posts a recording's WAV (`?meta=` [`RecordingMeta`]); answers [`Answer::Done`].
pub const RECORDING_PATH: &str = "/api/v1/edge/recordings";
/// Where an edge fetches a tenant's prompt (`?tenant_id=&name=`): WAV, or 404.
pub const PROMPT_PATH: &str = "/api/v1/edge/prompts";
/// The header naming the edge on its HTTP requests (logs, and which edge holds a call).
pub const EDGE_HEADER: &str = "switchboard-edge";

/// Whether a platform of this build can serve an edge that speaks `version`.
pub fn compatible(version: u32) -> bool {
    version == VERSION
}

/// Where a tenant's number leads, as sent to an edge (the flow is the stored JSON: the edge
/// parses it with its own IVR crate, so this crate stays free of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteWire {
    /// The tenant.
    pub tenant_id: String,
    /// The voice-number endpoint.
    pub endpoint_id: String,
    /// The number's queue (where calls go without a flow, and voicemail by default).
    pub queue_id: Option<String>,
    /// The IVR flow's definition, if the number has one.
    pub flow: Option<serde_json::Value>,
    /// The tenant's business-hours schedules by id (for the flow's branches).
    pub hours: BTreeMap<String, BusinessHours>,
    /// Most calls the tenant may have on this edge at once.
    pub max_concurrent_calls: u32,
    /// Why the tenant takes no calls now (e.g. suspended for non-payment); answered 480.
    pub unavailable: Option<String>,
    /// Another edge should take the call (a live one in the caller's region): the SIP URI to
    /// redirect the caller to (302).
    #[serde(default)]
    pub redirect: Option<String>,
}

/// An agent's SIP account (for a desk phone or softphone that registers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipAccount {
    /// The tenant.
    pub tenant_id: String,
    /// The agent.
    pub user_id: String,
    /// The SIP user name (unique across tenants: REGISTER carries nothing else).
    pub username: String,
    /// H(username:realm:password) with MD5, for phones that only speak MD5.
    pub ha1_md5: String,
    /// The same with SHA-256 (RFC 8760).
    pub ha1_sha256: String,
}

/// A call becoming a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallIntake {
    /// The tenant.
    pub tenant_id: String,
    /// The number's endpoint.
    pub endpoint_id: String,
    /// SIP Call-ID (the contact's external id: a retried intake is the same contact).
    pub call_id: String,
    /// Who calls (E.164 when the carrier sent one).
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// The queue.
    pub queue_id: Option<String>,
    /// Priority from the flow.
    pub priority: i32,
    /// Attributes the flow collected.
    pub attributes: BTreeMap<String, String>,
}

/// What the platform did with a call it was asked to queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "admission", content = "detail", rename_all = "snake_case")]
pub enum Admission {
    /// Waiting as this contact.
    Queued(String),
    /// The tenant's plugin sends it to voicemail instead (the number's queue gets it).
    Voicemail,
    /// The tenant's plugin refuses it (the caller hears the closed message).
    Refused(String),
}

/// An IVR `plugin` step asking the tenant's on-ivr plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrAsk {
    /// The tenant.
    pub tenant_id: String,
    /// The SIP Call-ID.
    pub call_id: String,
    /// Who calls.
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// The step asking.
    pub step: String,
    /// Keys pressed in the gather before.
    pub digits: String,
    /// Attributes the flow has collected.
    pub attributes: BTreeMap<String, String>,
}

/// The plugin's choice for an IVR step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IvrChoice {
    /// A branch of the step (None: its default).
    pub branch: Option<String>,
    /// Attributes to set.
    pub attributes: Vec<(String, String)>,
}

/// A waiting caller's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePosition {
    /// 1 = next.
    pub position: u32,
    /// Estimated wait in seconds, when the queue has enough history to say.
    pub estimated_wait_secs: Option<u32>,
}

/// What happened to a call once an agent took it: for the console, the contact's history and
/// routing (an agent whose phone cannot be reached gets the caller back in the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum CallState {
    /// The agent's phone is ringing.
    Ringing,
    /// Caller and agent are talking.
    Bridged,
    /// The caller is on hold (hears music).
    Held,
    /// Back from hold.
    Resumed,
    /// The agent's phone could not be reached: not registered, busy, declined, no answer.
    AgentUnreachable(String),
    /// The agent's phone hung up; the caller was released.
    AgentHungUp,
    /// The caller hung up while connected to the agent.
    CallerHungUp,
    /// The caller was sent to a number (blind transfer).
    TransferredOut(String),
}

impl CallState {
    /// Stable name for events.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Bridged => "bridged",
            CallState::Held => "held",
            CallState::Resumed => "resumed",
            CallState::AgentUnreachable(_) => "agent_unreachable",
            CallState::AgentHungUp => "agent_hung_up",
            CallState::CallerHungUp => "caller_hung_up",
            CallState::TransferredOut(_) => "transferred_out",
        }
    }
}

/// A call's state change, reported to the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// The tenant.
    pub tenant_id: String,
    /// The contact the call is.
    pub contact_id: String,
    /// The SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// The agent the contact is connected to.
    pub agent_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub state: CallState,
}

/// A call the edge answered has ended: how long it lasted, for the tenant's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnded {
    /// The tenant.
    pub tenant_id: String,
    /// The SIP Call-ID of the caller's leg (a call is counted once).
    pub call_id: String,
    /// From the answer to the end (IVR, queue, talk, voicemail).
    pub duration_ms: u64,
}

/// A voicemail's facts; its WAV (mono 8 kHz) travels as the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailMeta {
    /// The call it came from.
    pub call: CallIntake,
    /// Its length.
    pub duration_ms: u64,
}

/// A finished recording's facts; its WAV (stereo 8 kHz, caller left, agent right) travels as the
/// request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    /// The tenant.
    pub tenant_id: String,
    /// The contact.
    pub contact_id: String,
    /// The caller leg's Call-ID.
    pub call_id: String,
    /// Its length.
    pub duration_ms: u64,
    /// How long the caller's channel had sound.
    pub caller_sound_ms: u64,
    /// How long the agent's channel had sound.
    pub agent_sound_ms: u64,
}

/// What the platform asks of a call on an edge (the console's buttons, routing's decisions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum CallCommand {
    /// Ring the agent's registered phone and bridge it to the caller.
    Connect {
        /// The call's contact.
        contact_id: String,
        /// The agent.
        agent_id: String,
        /// The agent's SIP user name (as registered).
        username: String,
        /// Record the bridged call.
        record: bool,
    },
    /// Put the caller on hold (music; the agent hears silence).
    Hold,
    /// Take the caller off hold.
    Resume,
    /// End the call (both legs).
    Hangup,
    /// Send the caller to this number (REFER) and release the agent's phone.
    TransferToNumber {
        /// E.164.
        number: String,
    },
    /// Release the agent's phone; the caller waits in the queue again (transfer to a queue or a
    /// colleague, done by routing).
    Requeue,
}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum CommandError {
    /// No such call on this edge (ended, or on another edge).
    #[error("no such call on this edge")]
    NoSuchCall,
    /// The call is not in a state the command applies to.
    #[error("{0}")]
    NotNow(String),
    /// The edge is shutting down, or the link to it is gone.
    #[error("edge stopped")]
    Stopped,
}

/// An edge's question to the platform (`POST` [`ASK_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ask {
    /// Where a dialled number (E.164) leads → [`Answer::Route`].
    Number {
        /// The number, `+` included.
        number: String,
        /// Who calls (E.164 when the carrier sent one; empty if unknown): the platform may send
        /// the call to an edge in the caller's region.
        #[serde(default)]
        caller: String,
    },
    /// The SIP account with this user name → [`Answer::SipAccount`].
    SipAccount {
        /// As the phone sends it.
        username: String,
    },
    /// Queue the call as a contact → [`Answer::Admission`].
    Enqueue {
        /// The call.
        call: CallIntake,
    },
    /// An IVR `plugin` step → [`Answer::IvrChoice`].
    IvrStep {
        /// The question.
        ask: IvrAsk,
    },
    /// Where a waiting call stands → [`Answer::Position`].
    Position {
        /// The tenant.
        tenant_id: String,
        /// The contact.
        contact_id: String,
    },
    /// The caller hung up while waiting → [`Answer::Done`].
    Abandoned {
        /// The tenant.
        tenant_id: String,
        /// The contact.
        contact_id: String,
    },
    /// A connected call changed state → [`Answer::Done`].
    CallEvent {
        /// What happened.
        event: CallEvent,
    },
    /// A call ended (voice minutes) → [`Answer::Done`].
    CallEnded {
        /// Its facts.
        ended: CallEnded,
    },
    /// A recording could not be made or kept → [`Answer::Done`].
    RecordingFailed {
        /// The tenant.
        tenant_id: String,
        /// The contact.
        contact_id: String,
        /// Why.
        reason: String,
    },
}

impl Ask {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Ask::Number { .. } => "number",
            Ask::SipAccount { .. } => "sip_account",
            Ask::Enqueue { .. } => "enqueue",
            Ask::IvrStep { .. } => "ivr_step",
            Ask::Position { .. } => "position",
            Ask::Abandoned { .. } => "abandoned",
            Ask::CallEvent { .. } => "call_event",
            Ask::CallEnded { .. } => "call_ended",
            Ask::RecordingFailed { .. } => "recording_failed",
        }
    }
}

/// The platform's answer to an [`Ask`] (or to an upload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "snake_case")]
pub enum Answer {
    /// The number's route (None: no such number).
    Route(Option<RouteWire>),
    /// The account (None: no such user).
    SipAccount(Option<SipAccount>),
    /// What became of the call.
    Admission(Admission),
    /// The plugin's choice (None: the step's default).
    IvrChoice(Option<IvrChoice>),
    /// The place in line (None: no longer waiting).
    Position(Option<QueuePosition>),
    /// The contact a voicemail became.
    Contact(String),
    /// Taken.
    Done,
}

/// Who an edge is, said first on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the edge speaks ([`VERSION`]).
    pub version: u32,
    /// Stable name of the edge (unique in the deployment).
    pub edge_id: String,
    /// Where it runs (calls are placed on an edge in the caller's region).
    pub region: String,
    /// Most calls it takes at once.
    pub capacity: u32,
    /// Its SIP address as carriers and phones reach it (`203.0.113.5:5060`).
    pub sip: String,
}

/// An edge's periodic sign of life.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Calls in progress.
    pub active_calls: u32,
    /// SIP users with a phone registered on this edge now.
    pub registered: Vec<String>,
}

/// Edge → platform on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EdgeFrame {
    /// The first frame.
    Hello(Hello),
    /// Every `heartbeat_ms`.
    Heartbeat(Heartbeat),
    /// The result of the command with this id.
    CommandDone {
        /// The command's id.
        id: u64,
        /// What happened.
        result: Result<(), CommandError>,
    },
}

/// Platform → edge on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PlatformFrame {
    /// The edge is linked; heartbeat this often (a link silent for three beats is dropped).
    Welcome {
        /// The platform's protocol version.
        version: u32,
        /// Heartbeat period in milliseconds.
        heartbeat_ms: u64,
    },
    /// The link is refused (e.g. an unknown version); the edge logs the reason and retries later.
    Refused {
        /// Why.
        reason: String,
    },
    /// Do this to a call and answer with [`EdgeFrame::CommandDone`].
    Command {
        /// Correlates the answer.
        id: u64,
        /// The caller leg's Call-ID.
        call_id: String,
        /// What to do.
        command: CallCommand,
    },
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable control-link frame: {0}")]
pub struct FrameError(#[from] serde_json::Error);

/// The most a link frame may be (commands and heartbeats are small; a larger frame is hostile).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

impl EdgeFrame {
    /// Reads a frame (size-checked).
    pub fn decode(text: &str) -> Result<Self, FrameError> {
        decode(text)
    }
    /// Writes a frame.
    pub fn encode(&self) -> String {
        encode(self)
    }
}

impl PlatformFrame {
    /// Reads a frame (size-checked).
    pub fn decode(text: &str) -> Result<Self, FrameError> {
        decode(text)
    }
    /// Writes a frame.
    pub fn encode(&self) -> String {
        encode(self)
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError(serde::de::Error::custom(format!("frame of {} bytes is too large", text.len()))));
    }
    Ok(serde_json::from_str(text)?)
}

fn encode<T: Serialize>(value: &T) -> String {
    // Our own types: plain data with string keys, which serde_json always writes.
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"type\":\"unwritable\",\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_the_wire_and_read_as_documented() {
        let hello = EdgeFrame::Hello(Hello {
            version: VERSION,
            edge_id: "edge-a".into(),
            region: "eu".into(),
            capacity: 500,
            sip: "203.0.113.5:5060".into(),
        });
        let text = hello.encode();
        assert!(text.starts_with(r#"{"type":"hello","version":1,"edge_id":"edge-a""#), "{text}");
        assert_eq!(EdgeFrame::decode(&text).expect("reads"), hello);

        let command = PlatformFrame::Command {
            id: 7,
            call_id: "abc@host".into(),
            command: CallCommand::TransferToNumber { number: "+14155550100".into() },
        };
        let text = command.encode();
        assert_eq!(
            text,
            r#"{"type":"command","id":7,"call_id":"abc@host","command":{"command":"transfer_to_number","number":"+14155550100"}}"#
        );
        assert_eq!(PlatformFrame::decode(&text).expect("reads"), command);

        for result in [Ok(()), Err(CommandError::NoSuchCall), Err(CommandError::NotNow("not on hold".into()))] {
            let done = EdgeFrame::CommandDone { id: 3, result };
            assert_eq!(EdgeFrame::decode(&done.encode()).expect("reads"), done);
        }
    }

    #[test]
    fn asks_and_answers_round_trip() {
        let call = CallIntake {
            tenant_id: "t".into(),
            endpoint_id: "e".into(),
            call_id: "c".into(),
            caller: "+14155550101".into(),
            dialled: "+14155550188".into(),
            queue_id: Some("q".into()),
            priority: 3,
            attributes: BTreeMap::from([("lang".into(), "fr".into())]),
        };
        let asks = [
            Ask::Number { number: "+1".into(), caller: "+4930123456".into() },
            Ask::Enqueue { call },
            Ask::CallEvent {
                event: CallEvent {
                    tenant_id: "t".into(),
                    contact_id: "k".into(),
                    call_id: "c".into(),
                    agent_id: None,
                    state: CallState::AgentUnreachable("busy (486)".into()),
                },
            },
        ];
        for ask in asks {
            let text = serde_json::to_string(&ask).expect("writes");
            assert_eq!(serde_json::from_str::<Ask>(&text).expect("reads"), ask, "{text}");
        }
        let answers = [
            Answer::Route(None),
            Answer::Admission(Admission::Queued("k".into())),
            Answer::Admission(Admission::Voicemail),
            Answer::Position(Some(QueuePosition { position: 2, estimated_wait_secs: None })),
            Answer::Done,
        ];
        for answer in answers {
            let text = serde_json::to_string(&answer).expect("writes");
            assert_eq!(serde_json::from_str::<Answer>(&text).expect("reads"), answer, "{text}");
        }
        let event = serde_json::to_value(CallEvent {
            tenant_id: "t".into(),
            contact_id: "k".into(),
            call_id: "c".into(),
            agent_id: Some("a".into()),
            state: CallState::Held,
        })
        .expect("writes");
        assert_eq!(event["state"], "held", "the state reads as its stable name: {event}");
    }

    #[test]
    fn hostile_frames_are_refused_without_panicking() {
        for bad in [
            "",
            "{",
            r#"{"type":"launch"}"#,
            r#"{"type":"command","id":-1,"call_id":"c","command":{"command":"hold"}}"#,
            r#"{"type":"hello","version":1}"#,
        ] {
            assert!(PlatformFrame::decode(bad).is_err() || EdgeFrame::decode(bad).is_err(), "{bad}");
            assert!(EdgeFrame::decode(bad).is_err(), "{bad}");
        }
        let huge =
            format!(r#"{{"type":"heartbeat","active_calls":0,"registered":["{}"]}}"#, "a".repeat(MAX_FRAME_BYTES));
        assert!(EdgeFrame::decode(&huge).is_err());
        assert!(!compatible(VERSION + 1) && compatible(VERSION));
    }
}
