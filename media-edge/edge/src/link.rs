//! The control link, edge side, for an edge that runs as its own process (`switchboard edge`):
//! [`LinkPlatform`] is the [`Platform`] seam over HTTP to any platform replica, and [`spawn`]
//! keeps the WebSocket that registers this edge, heartbeats, and carries the platform's commands
//! to its calls, reconnecting with backoff. Calls in progress never wait on the link: a call that
//! is bridged keeps its media whatever happens to the platform.
//!
//! An edge may know several platform replicas (or load balancers): requests and the link go to the
//! one that last answered, and move on to the next when it is unreachable, so one replica's death
//! costs a reconnect, not the link.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use switchboard_control_link::{
    ASK_PATH, Answer, Ask, EDGE_HEADER, EdgeFrame, Heartbeat, Hello, LINK_PATH, PROMPT_PATH, PlatformFrame,
    RECORDING_PATH, RecordingMeta, RouteWire, VERSION, VOICEMAIL_PATH, VoicemailMeta,
};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::EdgeControl;
use crate::platform::{
    Admission, CallEnded, CallEvent, CallIntake, IvrAsk, IvrChoice, NumberRoute, Platform, PlatformError,
    QueuePosition, Recording, SipAccount, Voicemail,
};

/// How an edge reaches its platform and introduces itself.
#[derive(Clone)]
pub struct LinkConfig {
    /// The platform's base URLs (`http://platform.internal:8080`, or `https://...`): any
    /// replicas or load balancers, tried in turn.
    pub platform_urls: Vec<String>,
    /// The deployment's edge token (a bearer token on every request).
    pub token: String,
    /// This edge's stable name.
    pub edge_id: String,
    /// Its region.
    pub region: String,
    /// Most calls it takes at once.
    pub capacity: u32,
    /// Its SIP address as peers reach it.
    pub sip: String,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("platform_urls", &self.platform_urls)
            .field("edge_id", &self.edge_id)
            .field("region", &self.region)
            .field("capacity", &self.capacity)
            .field("sip", &self.sip)
            .finish_non_exhaustive()
    }
}

/// A link that cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A platform URL is not `http://` or `https://`, or there is none.
    #[error("each platform URL must start with http:// or https://: {0:?}")]
    BadUrl(String),
    /// The edge token is too short to be a secret.
    #[error("the edge token must be at least 32 characters")]
    WeakToken,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

impl LinkConfig {
    fn check(&self) -> Result<(), LinkError> {
        if self.platform_urls.is_empty() {
            return Err(LinkError::BadUrl(String::new()));
        }
        if let Some(bad) = self.platform_urls.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(LinkError::BadUrl(bad.clone()));
        }
        if self.token.len() < 32 {
            return Err(LinkError::WeakToken);
        }
        Ok(())
    }
}

/// The platform replicas this edge knows, and the one in use: the last that answered.
#[derive(Debug)]
struct Platforms {
    urls: Vec<String>,
    current: AtomicUsize,
}

impl Platforms {
    fn new(urls: &[String]) -> Self {
        Self { urls: urls.iter().map(|u| u.trim_end_matches('/').to_owned()).collect(), current: AtomicUsize::new(0) }
    }

    fn len(&self) -> usize {
        self.urls.len()
    }

    /// The replica in use now.
    fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.urls.len()
    }

    fn base(&self, i: usize) -> &str {
        &self.urls[i % self.urls.len()]
    }

    /// Replica `i` failed: the next one is in use (unless another request moved on already).
    fn failed(&self, i: usize) {
        let next = (i + 1) % self.urls.len();
        let _ = self.current.compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Replica `i` answered: keep using it.
    fn answered(&self, i: usize) {
        self.current.store(i % self.urls.len(), Ordering::Relaxed);
    }

    /// The link's WebSocket URL on replica `i` (`ws://` for `http://`, `wss://` for `https://`).
    fn ws_url(&self, i: usize) -> String {
        let base = self.base(i);
        match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}{LINK_PATH}"),
            None => format!("ws://{}{LINK_PATH}", base.trim_start_matches("http://")),
        }
    }
}

/// How long an ask may take (the edge's own timeouts around platform calls are shorter or equal).
const ASK_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a notification's first attempt may take before it is held for later.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an audio upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Most notifications held while the platform is unreachable (each is a few hundred bytes).
const MAX_HELD: usize = 100_000;

/// The [`Platform`] seam over HTTP: every question an [`Ask`] posted to the platform.
/// Notifications (a caller hung up, a call's state, its minutes, a failed recording) that find
/// the platform unreachable are kept in order and sent again until it answers, so a platform
/// restart loses none of them.
pub struct LinkPlatform {
    client: Client,
    outbox: Arc<Outbox>,
    deliverer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LinkPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkPlatform").field("config", &self.client.config).finish_non_exhaustive()
    }
}

impl Drop for LinkPlatform {
    fn drop(&mut self) {
        self.deliverer.abort();
    }
}

fn unavailable(e: impl std::fmt::Display) -> PlatformError {
    PlatformError(e.to_string())
}

/// Why an ask got no answer.
enum Failure {
    /// The platform refused it (4xx): sending it again would change nothing.
    Refused(PlatformError),
    /// Unreachable, or failing (5xx): worth sending again.
    Unavailable(PlatformError),
}

impl Failure {
    fn error(self) -> PlatformError {
        match self {
            Failure::Refused(e) | Failure::Unavailable(e) => e,
        }
    }
}

/// The HTTP side of the link.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    config: LinkConfig,
    platforms: Arc<Platforms>,
}

/// Which failures move a request on to the next replica.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failover {
    /// Unreachable only (the request never got there): for uploads, which are not repeated on a
    /// replica that may have taken them.
    Unreachable,
    /// Unreachable or failing (5xx): for asks, which the platform takes idempotently.
    UnreachableOrFailing,
}

impl Client {
    /// Sends what `make` builds for a replica's base URL to the replica in use, and on to the
    /// others in turn while one fails as `failover` says; the last result when all do.
    async fn send(
        &self,
        failover: Failover,
        make: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let first = self.platforms.current();
        let n = self.platforms.len();
        let mut k = 0;
        loop {
            let i = first + k;
            let request =
                make(self.platforms.base(i)).bearer_auth(&self.config.token).header(EDGE_HEADER, &self.config.edge_id);
            let result = request.send().await;
            let failed = match &result {
                Err(e) => e.is_connect() || (failover == Failover::UnreachableOrFailing && e.is_timeout()),
                Ok(r) => failover == Failover::UnreachableOrFailing && r.status().is_server_error(),
            };
            if !failed {
                self.platforms.answered(i);
                return result;
            }
            self.platforms.failed(i % n);
            k += 1;
            if k == n {
                return result;
            }
        }
    }

    /// Reads the platform's answer, or says why there is none.
    async fn answer(response: Result<reqwest::Response, reqwest::Error>) -> Result<Answer, Failure> {
        let response =
            response.map_err(|e| Failure::Unavailable(PlatformError(format!("platform unreachable: {e}"))))?;
        let status = response.status();
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let why = body["error"]["message"].as_str().unwrap_or("no reason given").to_owned();
            let error = PlatformError(format!("platform answered {status}: {why}"));
            return Err(if status.is_client_error() { Failure::Refused(error) } else { Failure::Unavailable(error) });
        }
        response
            .json::<Answer>()
            .await
            .map_err(|e| Failure::Unavailable(PlatformError(format!("unreadable answer: {e}"))))
    }

    async fn post(&self, ask: &Ask, within: Duration) -> Result<Answer, Failure> {
        let sent = self
            .send(Failover::UnreachableOrFailing, |base| {
                self.http.post(format!("{base}{ASK_PATH}")).timeout(within).json(ask)
            })
            .await;
        Self::answer(sent).await
    }
}

/// Notifications waiting for the platform, oldest first.
#[derive(Default)]
struct Outbox {
    queue: std::sync::Mutex<std::collections::VecDeque<Ask>>,
    wake: tokio::sync::Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Ask>> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn push(&self, ask: Ask) -> Result<(), PlatformError> {
        let mut queue = self.lock();
        if queue.len() >= MAX_HELD {
            return Err(PlatformError(format!("{MAX_HELD} notifications already wait for the platform")));
        }
        queue.push_back(ask);
        drop(queue);
        self.wake.notify_one();
        Ok(())
    }
}

/// Sends held notifications, in order, until the platform takes each (or refuses it for good).
async fn deliver(client: Client, outbox: Arc<Outbox>) {
    let mut backoff = Duration::from_millis(500);
    let mut delivered = 0u64;
    loop {
        let next = outbox.lock().front().cloned();
        let Some(ask) = next else {
            if delivered > 0 {
                tracing::info!(delivered, "notifications held while the platform was unreachable are delivered");
                delivered = 0;
            }
            outbox.wake.notified().await;
            continue;
        };
        match client.post(&ask, ASK_TIMEOUT).await {
            Ok(_) => {}
            Err(Failure::Refused(e)) => tracing::warn!(ask = ask.name(), error = %e, "held notification refused"),
            Err(Failure::Unavailable(_)) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        }
        outbox.lock().pop_front();
        delivered += 1;
        backoff = Duration::from_millis(500);
    }
}

impl LinkPlatform {
    /// A client for the platform at `config.platform_urls` (in a tokio runtime: it starts the task
    /// that sends held notifications).
    pub fn new(config: LinkConfig) -> Result<Self, LinkError> {
        config.check()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| LinkError::Client(e.to_string()))?;
        let platforms = Arc::new(Platforms::new(&config.platform_urls));
        let client = Client { http, config, platforms };
        let outbox = Arc::new(Outbox::default());
        let deliverer = tokio::spawn(deliver(client.clone(), outbox.clone()));
        Ok(LinkPlatform { client, outbox, deliverer })
    }

    /// Notifications waiting for the platform now.
    pub fn held(&self) -> usize {
        self.outbox.lock().len()
    }

    async fn ask(&self, ask: Ask) -> Result<Answer, PlatformError> {
        let name = ask.name();
        self.client
            .post(&ask, ASK_TIMEOUT)
            .await
            .map_err(Failure::error)
            .inspect_err(|e| tracing::warn!(ask = name, error = %e, "platform ask failed"))
    }

    /// A notification: sent now, or (the platform unreachable) held and sent again until taken.
    /// While any is held, newer ones queue behind it, so the platform hears them in order.
    async fn done(&self, ask: Ask) -> Result<(), PlatformError> {
        if self.outbox.is_empty() {
            // Well inside the calls' own 5 s limit on platform calls, so a hung platform gets the
            // notification held rather than dropped with the cancelled call.
            match self.client.post(&ask, NOTIFY_TIMEOUT).await {
                Ok(Answer::Done) => return Ok(()),
                Ok(other) => return Err(unexpected(&other)),
                Err(Failure::Refused(e)) => return Err(e),
                Err(Failure::Unavailable(e)) => {
                    tracing::warn!(ask = ask.name(), error = %e, "platform unreachable: the notification is held");
                }
            }
        }
        self.outbox.push(ask)
    }

    async fn upload(&self, path: &str, meta: &impl serde::Serialize, wav: Vec<u8>) -> Result<Answer, PlatformError> {
        let meta = serde_json::to_string(meta).map_err(unavailable)?;
        // Shared, not copied, between attempts on different replicas.
        let wav = bytes::Bytes::from(wav);
        let sent = self
            .client
            .send(Failover::Unreachable, |base| {
                self.client
                    .http
                    .post(format!("{base}{path}"))
                    .timeout(UPLOAD_TIMEOUT)
                    .query(&[("meta", &meta)])
                    .header("content-type", "audio/wav")
                    .body(wav.clone())
            })
            .await;
        Client::answer(sent).await.map_err(Failure::error)
    }
}

fn unexpected(answer: &Answer) -> PlatformError {
    PlatformError(format!("the platform answered something else: {answer:?}"))
}

/// A route as the edge uses it: the flow parsed by this edge's IVR crate.
fn route_from_wire(wire: RouteWire) -> Result<NumberRoute, PlatformError> {
    let flow = match wire.flow {
        Some(json) => Some(
            switchboard_ivr::Flow::from_json(&json)
                .map_err(|e| PlatformError(format!("the number's flow cannot be read by this edge: {e}")))?,
        ),
        None => None,
    };
    Ok(NumberRoute {
        tenant_id: wire.tenant_id,
        endpoint_id: wire.endpoint_id,
        queue_id: wire.queue_id,
        flow,
        hours: wire.hours,
        max_concurrent_calls: wire.max_concurrent_calls,
        unavailable: wire.unavailable,
        redirect: wire.redirect,
    })
}

#[async_trait::async_trait]
impl Platform for LinkPlatform {
    async fn number(&self, number: &str, caller: &str) -> Result<Option<NumberRoute>, PlatformError> {
        match self.ask(Ask::Number { number: number.to_owned(), caller: caller.to_owned() }).await? {
            Answer::Route(route) => route.map(route_from_wire).transpose(),
            other => Err(unexpected(&other)),
        }
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, PlatformError> {
        match self.ask(Ask::SipAccount { username: username.to_owned() }).await? {
            Answer::SipAccount(account) => Ok(account),
            other => Err(unexpected(&other)),
        }
    }

    async fn prompt(&self, tenant_id: &str, name: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        let response = self
            .client
            .send(Failover::UnreachableOrFailing, |base| {
                self.client
                    .http
                    .get(format!("{base}{PROMPT_PATH}"))
                    .timeout(ASK_TIMEOUT)
                    .query(&[("tenant_id", tenant_id), ("name", name)])
            })
            .await
            .map_err(|e| PlatformError(format!("platform unreachable: {e}")))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(response.bytes().await.map_err(unavailable)?.to_vec())),
            s => Err(PlatformError(format!("platform answered {s} for prompt {name}"))),
        }
    }

    async fn enqueue(&self, call: &CallIntake) -> Result<Admission, PlatformError> {
        match self.ask(Ask::Enqueue { call: call.clone() }).await? {
            Answer::Admission(admission) => Ok(admission),
            other => Err(unexpected(&other)),
        }
    }

    async fn ivr_step(&self, ask: &IvrAsk) -> Result<Option<IvrChoice>, PlatformError> {
        match self.ask(Ask::IvrStep { ask: ask.clone() }).await? {
            Answer::IvrChoice(choice) => Ok(choice),
            other => Err(unexpected(&other)),
        }
    }

    async fn position(&self, tenant_id: &str, contact_id: &str) -> Result<Option<QueuePosition>, PlatformError> {
        let ask = Ask::Position { tenant_id: tenant_id.to_owned(), contact_id: contact_id.to_owned() };
        match self.ask(ask).await? {
            Answer::Position(position) => Ok(position),
            other => Err(unexpected(&other)),
        }
    }

    async fn abandoned(&self, tenant_id: &str, contact_id: &str) -> Result<(), PlatformError> {
        self.done(Ask::Abandoned { tenant_id: tenant_id.to_owned(), contact_id: contact_id.to_owned() }).await
    }

    async fn voicemail(&self, voicemail: Voicemail) -> Result<String, PlatformError> {
        let meta = VoicemailMeta { call: voicemail.call, duration_ms: voicemail.duration_ms };
        match self.upload(VOICEMAIL_PATH, &meta, voicemail.wav).await? {
            Answer::Contact(id) => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    async fn call_event(&self, event: CallEvent) -> Result<(), PlatformError> {
        self.done(Ask::CallEvent { event }).await
    }

    async fn call_ended(&self, ended: CallEnded) -> Result<(), PlatformError> {
        self.done(Ask::CallEnded { ended }).await
    }

    async fn recording(&self, recording: Recording) -> Result<(), PlatformError> {
        let meta = RecordingMeta {
            tenant_id: recording.tenant_id,
            contact_id: recording.contact_id,
            call_id: recording.call_id,
            duration_ms: recording.duration_ms,
            caller_sound_ms: recording.caller_sound_ms,
            agent_sound_ms: recording.agent_sound_ms,
        };
        match self.upload(RECORDING_PATH, &meta, recording.wav).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn recording_failed(&self, tenant_id: &str, contact_id: &str, reason: &str) -> Result<(), PlatformError> {
        self.done(Ask::RecordingFailed {
            tenant_id: tenant_id.to_owned(),
            contact_id: contact_id.to_owned(),
            reason: reason.to_owned(),
        })
        .await
    }
}

/// The link's state, as the edge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Not linked (starting, or reconnecting; the reason of the last failure).
    Down(String),
    /// Linked and heartbeating.
    Up,
}

/// The running link; dropping it closes it.
#[derive(Debug)]
pub struct Link {
    state: watch::Receiver<LinkState>,
    task: tokio::task::JoinHandle<()>,
    platform: Arc<LinkPlatform>,
}

impl Link {
    /// The link's state, updated as it changes.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// The HTTP side (e.g. how many notifications it holds).
    pub fn platform(&self) -> Arc<LinkPlatform> {
        self.platform.clone()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts keeping the link to the platform: connect, say hello, heartbeat, carry out commands;
/// on any failure try the next replica at once, and once every replica failed in a row wait
/// (0.5 s doubling to 10 s, with jitter) before the next round.
pub fn spawn(config: LinkConfig, control: EdgeControl, platform: Arc<LinkPlatform>) -> Result<Link, LinkError> {
    config.check()?;
    let (tx, state) = watch::channel(LinkState::Down("starting".into()));
    let platforms = platform.client.platforms.clone();
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        let mut failed_in_row = 0;
        loop {
            // The replica the HTTP side last reached (the link follows it after a failover).
            let i = platforms.current();
            let result = session(&config, &platforms, i, &control, &tx).await;
            let why = match result {
                Ok(()) => "the platform closed the link".to_owned(),
                Err(e) => e,
            };
            if *tx.borrow() == LinkState::Up {
                backoff = Duration::from_millis(500);
                failed_in_row = 0;
            }
            failed_in_row += 1;
            platforms.failed(i);
            let platform = platforms.base(i).to_owned();
            let _ = tx.send(LinkState::Down(why.clone()));
            if failed_in_row % platforms.len() != 0 {
                tracing::warn!(edge = %config.edge_id, %platform, reason = %why, next = %platforms.base(platforms.current()), "control link down; trying the next replica");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            tracing::warn!(edge = %config.edge_id, %platform, reason = %why, retry_in_ms = backoff.as_millis() as u64, "control link down");
            let jitter = Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 4));
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
    Ok(Link { state, task, platform })
}

/// One connection, from hello to its end.
async fn session(
    config: &LinkConfig,
    platforms: &Platforms,
    replica: usize,
    control: &EdgeControl,
    state: &watch::Sender<LinkState>,
) -> Result<(), String> {
    let mut request = platforms.ws_url(replica).into_client_request().map_err(|e| format!("bad link URL: {e}"))?;
    let auth = format!("Bearer {}", config.token).parse().map_err(|_| "the edge token is not a valid header value")?;
    request.headers_mut().insert("authorization", auth);
    let connect = tokio_tungstenite::connect_async(request);
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("connecting: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    let hello = Hello {
        version: VERSION,
        edge_id: config.edge_id.clone(),
        region: config.region.clone(),
        capacity: config.capacity,
        sip: config.sip.clone(),
    };
    sink.send(WsMessage::text(EdgeFrame::Hello(hello).encode())).await.map_err(|e| format!("saying hello: {e}"))?;
    let heartbeat = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .map_err(|_| "no welcome from the platform".to_owned())?;
        match frame {
            Some(Ok(WsMessage::Text(text))) => match PlatformFrame::decode(&text) {
                Ok(PlatformFrame::Welcome { version, heartbeat_ms }) => {
                    tracing::info!(edge = %config.edge_id, platform = %platforms.base(replica), platform_version = version, "control link up");
                    // Asks go where the link is: a replica known to be up.
                    platforms.answered(replica);
                    break Duration::from_millis(heartbeat_ms.clamp(200, 60_000));
                }
                Ok(PlatformFrame::Refused { reason }) => return Err(format!("refused by the platform: {reason}")),
                Ok(other) => return Err(format!("expected a welcome, got {other:?}")),
                Err(e) => return Err(e.to_string()),
            },
            Some(Ok(WsMessage::Close(close))) => {
                return Err(format!(
                    "closed before welcome: {}",
                    close.map(|c| c.reason.to_string()).unwrap_or_default()
                ));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed before welcome".into()),
        }
    };
    let _ = state.send(LinkState::Up);

    // Command results come back from their own tasks through here.
    let (done_tx, mut done_rx) = mpsc::channel::<EdgeFrame>(64);
    let control = Arc::new(control.clone());
    let mut beat = tokio::time::interval(heartbeat);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    return Err("the platform went silent".into());
                }
                let status = control.status().await;
                let frame = EdgeFrame::Heartbeat(Heartbeat { active_calls: status.active_calls, registered: status.registered });
                sink.send(WsMessage::text(frame.encode())).await.map_err(|e| format!("heartbeat: {e}"))?;
                // The platform answers pings, which tells us it is still there.
                sink.send(WsMessage::Ping(Vec::new().into())).await.map_err(|e| format!("ping: {e}"))?;
            }
            Some(frame) = done_rx.recv() => {
                sink.send(WsMessage::text(frame.encode())).await.map_err(|e| format!("command result: {e}"))?;
            }
            message = stream.next() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(WsMessage::Text(text))) => match PlatformFrame::decode(&text) {
                        Ok(PlatformFrame::Command { id, call_id, command }) => {
                            let (control, done) = (control.clone(), done_tx.clone());
                            // Each command on its own: one slow call never holds up another.
                            tokio::spawn(async move {
                                let result = control.command(&call_id, command).await;
                                let _ = done.send(EdgeFrame::CommandDone { id, result }).await;
                            });
                        }
                        Ok(PlatformFrame::Refused { reason }) => return Err(format!("refused by the platform: {reason}")),
                        Ok(PlatformFrame::Welcome { .. }) => {}
                        Err(e) => tracing::warn!(error = %e, "ignoring an unreadable frame from the platform"),
                    },
                    Some(Ok(WsMessage::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(urls: &[&str], token: &str) -> LinkConfig {
        LinkConfig {
            platform_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            token: token.into(),
            edge_id: "e".into(),
            region: "r".into(),
            capacity: 1,
            sip: "127.0.0.1:5060".into(),
        }
    }

    #[test]
    fn urls_and_tokens_are_checked() {
        let token = "x".repeat(32);
        let platforms = Platforms::new(&config(&["http://p:8080/", "https://p.example"], &token).platform_urls);
        assert_eq!(platforms.ws_url(0), "ws://p:8080/api/v1/edge/link");
        assert_eq!(platforms.ws_url(1), "wss://p.example/api/v1/edge/link");
        assert!(
            matches!(config(&["http://p", "ftp://p"], &token).check(), Err(LinkError::BadUrl(u)) if u == "ftp://p")
        );
        assert!(matches!(config(&[], &token).check(), Err(LinkError::BadUrl(_))));
        assert!(matches!(config(&["http://p"], "short").check(), Err(LinkError::WeakToken)));
        let debug = format!("{:?}", config(&["http://p"], &token));
        assert!(!debug.contains(&token), "the token never reaches logs: {debug}");
    }

    #[test]
    fn a_failed_replica_hands_over_to_the_next_once() {
        let platforms = Platforms::new(&["http://a".to_owned(), "http://b".to_owned(), "http://c".to_owned()]);
        assert_eq!(platforms.current(), 0);
        platforms.failed(0);
        assert_eq!(platforms.current(), 1);
        // A second request that also saw `a` fail does not skip `b`.
        platforms.failed(0);
        assert_eq!(platforms.current(), 1);
        platforms.failed(1);
        platforms.failed(2);
        assert_eq!(platforms.current(), 0, "round and round");
        platforms.answered(2);
        assert_eq!(platforms.base(platforms.current()), "http://c");
    }

    /// A one-shot HTTP server answering every request with `status` and `body`; its address.
    async fn answering(status: &'static str, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn asks_move_on_from_an_unreachable_or_failing_replica_and_stay_where_answered() {
        let token = "x".repeat(32);
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", l.local_addr().expect("addr"))
        };
        let failing = answering("503 Service Unavailable", r#"{"error":{"message":"database down"}}"#).await;
        let good = answering("200 OK", r#"{"answer":"route","value":null}"#).await;
        let platform = LinkPlatform::new(config(&[&closed, &failing, &good], &token)).expect("platform");
        assert_eq!(platform.number("+14155550100", "+4930123456").await.expect("answered"), None);
        assert_eq!(platform.client.platforms.current(), 2, "the replica that answered stays in use");
        assert_eq!(platform.number("+14155550100", "+4930123456").await.expect("answered again"), None);

        // Every replica failing is an error that says why.
        let platform = LinkPlatform::new(config(&[&closed, &failing], &token)).expect("platform");
        let e = platform.number("+14155550100", "+4930123456").await.expect_err("nobody answers");
        assert!(e.0.contains("503") && e.0.contains("database down"), "{e:?}");
    }
}
