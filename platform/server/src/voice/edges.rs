//! The edges this process commands: the one inside it (embedded default) and the stand-alone
//! edges linked to it over the control link (`switchboard edge`). A command for a call goes to
//! the edge that holds it; which one that is, only the edges know, so it is offered to each until
//! one does not answer "no such call" (there are few edges per replica, and a wrong guess costs
//! one small frame).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use switchboard_control_link::{Heartbeat, Hello, PlatformFrame};
use switchboard_edge::{CallCommand, CommandError, EdgeControl};
use tokio::sync::{mpsc, oneshot};

/// How long a linked edge may take to carry out a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A linked edge as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkedEdge {
    /// Its name.
    pub edge_id: String,
    /// Its region.
    pub region: String,
    /// Most calls it takes.
    pub capacity: u32,
    /// Its SIP address.
    pub sip: String,
    /// Calls in progress at its last heartbeat.
    pub active_calls: u32,
    /// Milliseconds since it was last heard from.
    pub last_heard_ms: u64,
}

struct Linked {
    hello: Hello,
    heartbeat: Heartbeat,
    last_heard: Instant,
    /// Which connection this is (a reconnecting edge replaces its older one).
    session: u64,
    frames: mpsc::Sender<PlatformFrame>,
}

/// Commands waiting for their result, by id, with the connection they were sent on: only that
/// connection may answer them, and they fail as soon as it ends.
type Pending = HashMap<u64, (u64, oneshot::Sender<Result<(), CommandError>>)>;

/// The edges of this process.
#[derive(Clone, Default)]
pub struct Edges {
    local: Arc<OnceLock<EdgeControl>>,
    linked: Arc<Mutex<HashMap<String, Linked>>>,
    pending: Arc<Mutex<Pending>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for Edges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edges").field("local", &self.local.get().is_some()).finish_non_exhaustive()
    }
}

/// A linked edge's session, handed back to the link's socket loop.
#[derive(Debug)]
pub struct Session {
    /// The edge.
    pub edge_id: String,
    /// Which connection.
    pub session: u64,
    /// Frames to send it.
    pub frames: mpsc::Receiver<PlatformFrame>,
}

impl Edges {
    /// Sets the edge running inside this process.
    pub fn set_local(&self, control: EdgeControl) {
        let _ = self.local.set(control);
    }

    /// Whether any edge (here or linked) can take commands.
    pub fn any(&self) -> bool {
        self.local.get().is_some() || !self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Linked>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.linked.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An edge said hello: it is linked (replacing an older connection of the same edge).
    pub fn link(&self, hello: Hello) -> Session {
        let (tx, rx) = mpsc::channel(64);
        let session = self.next.fetch_add(1, Ordering::Relaxed);
        let edge_id = hello.edge_id.clone();
        let linked = Linked { hello, heartbeat: Heartbeat::default(), last_heard: Instant::now(), session, frames: tx };
        if self.lock().insert(edge_id.clone(), linked).is_some() {
            tracing::info!(edge = %edge_id, "edge reconnected; its older link is dropped");
        }
        Session { edge_id, session, frames: rx }
    }

    /// A heartbeat from a linked edge.
    pub fn heard(&self, edge_id: &str, session: u64, heartbeat: Heartbeat) {
        if let Some(l) = self.lock().get_mut(edge_id).filter(|l| l.session == session) {
            l.heartbeat = heartbeat;
            l.last_heard = Instant::now();
        }
    }

    /// A linked edge's connection ended (only that connection: a newer one stays).
    /// Its commands still waiting fail at once (dropping their waiters).
    pub fn unlink(&self, edge_id: &str, session: u64) {
        let mut linked = self.lock();
        if linked.get(edge_id).is_some_and(|l| l.session == session) {
            linked.remove(edge_id);
        }
        drop(linked);
        self.pending().retain(|_, (on, _)| *on != session);
    }

    /// Whether this connection is still the edge's current one.
    pub fn is_current(&self, edge_id: &str, session: u64) -> bool {
        self.lock().get(edge_id).is_some_and(|l| l.session == session)
    }

    /// A command's result came back on connection `session` (ignored unless it was sent there).
    pub fn done(&self, session: u64, id: u64, result: Result<(), CommandError>) {
        let mut pending = self.pending();
        if pending.get(&id).is_some_and(|(on, _)| *on == session)
            && let Some((_, waiter)) = pending.remove(&id)
        {
            let _ = waiter.send(result);
        }
    }

    /// The linked edges now, by name.
    pub fn linked(&self) -> Vec<LinkedEdge> {
        let mut all: Vec<LinkedEdge> = self
            .lock()
            .values()
            .map(|l| LinkedEdge {
                edge_id: l.hello.edge_id.clone(),
                region: l.hello.region.clone(),
                capacity: l.hello.capacity,
                sip: l.hello.sip.clone(),
                active_calls: l.heartbeat.active_calls,
                last_heard_ms: l.last_heard.elapsed().as_millis() as u64,
            })
            .collect();
        all.sort_by(|a, b| a.edge_id.cmp(&b.edge_id));
        all
    }

    /// Whether a phone is registered as this SIP user on any edge.
    pub async fn registered(&self, username: &str) -> bool {
        if let Some(local) = self.local.get()
            && local.registered().await.iter().any(|u| u == username)
        {
            return true;
        }
        self.lock().values().any(|l| l.heartbeat.registered.iter().any(|u| u == username))
    }

    /// Carries out `command` on the call with this Call-ID, wherever it is.
    pub async fn command(&self, call_id: &str, command: CallCommand) -> Result<(), CommandError> {
        if let Some(local) = self.local.get() {
            match local.command(call_id, command.clone()).await {
                Err(CommandError::NoSuchCall) => {}
                other => return other,
            }
        }
        let targets: Vec<(String, u64, mpsc::Sender<PlatformFrame>)> =
            self.lock().values().map(|l| (l.hello.edge_id.clone(), l.session, l.frames.clone())).collect();
        let asks = targets.into_iter().map(|(edge, session, frames)| {
            let command = command.clone();
            async move { (edge, self.remote(session, &frames, call_id, command).await) }
        });
        let mut stopped = false;
        for (edge, result) in futures::future::join_all(asks).await {
            match result {
                Err(CommandError::NoSuchCall) => {}
                Err(CommandError::Stopped) => {
                    tracing::warn!(%edge, call = %call_id, "edge did not answer a command");
                    stopped = true;
                }
                other => return other,
            }
        }
        Err(if stopped { CommandError::Stopped } else { CommandError::NoSuchCall })
    }

    async fn remote(
        &self,
        session: u64,
        frames: &mpsc::Sender<PlatformFrame>,
        call_id: &str,
        command: CallCommand,
    ) -> Result<(), CommandError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, (session, tx));
        let frame = PlatformFrame::Command { id, call_id: call_id.to_owned(), command };
        // One limit for queueing and answering: a stuck link never holds up the other edges.
        let exchange = async {
            frames.send(frame).await.map_err(|_| CommandError::Stopped)?;
            rx.await.map_err(|_| CommandError::Stopped)?
        };
        let result = tokio::time::timeout(COMMAND_TIMEOUT, exchange).await.unwrap_or(Err(CommandError::Stopped));
        self.pending().remove(&id);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(id: &str) -> Hello {
        Hello { version: 1, edge_id: id.into(), region: "eu".into(), capacity: 10, sip: "127.0.0.1:5060".into() }
    }

    async fn next_command(session: &mut Session) -> u64 {
        match tokio::time::timeout(Duration::from_secs(2), session.frames.recv()).await {
            Ok(Some(PlatformFrame::Command { id, .. })) => id,
            other => panic!("expected a command, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_the_connection_a_command_went_to_can_answer_it() {
        let edges = Edges::default();
        let mut a = edges.link(hello("a"));
        let b = edges.link(hello("b"));
        let e = edges.clone();
        let asked = tokio::spawn(async move { e.command("call-1", CallCommand::Hold).await });
        let id = next_command(&mut a).await;
        // Edge b answers for b's copy (no such call), then forges an answer to a's id: ignored.
        edges.done(b.session, id, Err(CommandError::NotNow("forged".into())));
        edges.done(a.session, id, Ok(()));
        // b's own copy is still waiting: answer it as "not mine".
        let mut b = b;
        let b_id = next_command(&mut b).await;
        edges.done(b.session, b_id, Err(CommandError::NoSuchCall));
        assert_eq!(asked.await.expect("task"), Ok(()), "a's answer, not the forged one");
    }

    #[tokio::test]
    async fn a_link_that_ends_fails_its_waiting_commands_at_once() {
        let edges = Edges::default();
        let mut a = edges.link(hello("a"));
        let e = edges.clone();
        let started = Instant::now();
        let asked = tokio::spawn(async move { e.command("call-1", CallCommand::Hangup).await });
        next_command(&mut a).await;
        edges.unlink("a", a.session);
        assert_eq!(asked.await.expect("task"), Err(CommandError::Stopped));
        assert!(started.elapsed() < Duration::from_secs(2), "not after the 10 s limit");
        assert!(!edges.any(), "no edge left");
    }

    #[tokio::test]
    async fn a_reconnecting_edge_replaces_its_older_link() {
        let edges = Edges::default();
        let mut old = edges.link(hello("a"));
        let new = edges.link(hello("a"));
        assert!(old.frames.recv().await.is_none(), "the older link's frames end");
        assert!(!edges.is_current("a", old.session) && edges.is_current("a", new.session));
        edges.unlink("a", old.session);
        assert_eq!(edges.linked().len(), 1, "ending the older link leaves the newer one");
        edges.heard("a", new.session, Heartbeat { active_calls: 3, registered: vec!["desk".into()] });
        assert!(edges.registered("desk").await);
        assert_eq!(edges.linked()[0].active_calls, 3);
    }
}
