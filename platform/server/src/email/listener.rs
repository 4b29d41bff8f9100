//! The SMTP listener: TCP (and STARTTLS) around the sans-IO session of the channels crate, with
//! time limits per command and per session and a cap on concurrent sessions.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_channels::email::smtp::{Action, Limits, Session};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::inbound::{self, Refusal};
use crate::app::AppState;
use crate::config::Config;

/// Most SMTP sessions served at once; more wait in the accept queue.
const MAX_SESSIONS: usize = 512;

/// Settings of the listener.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Greeting name.
    pub hostname: String,
    /// Session limits.
    pub limits: Limits,
    /// Silence allowed between lines.
    pub idle: Duration,
    /// Length of a whole session.
    pub session: Duration,
    /// STARTTLS, when a certificate is configured.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("hostname", &self.hostname)
            .field("limits", &self.limits)
            .field("starttls", &self.tls.is_some())
            .finish()
    }
}

impl SmtpSettings {
    /// From the configuration (reads the certificate files).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let tls = match (&config.smtp_tls_cert, &config.smtp_tls_key) {
            (Some(cert), Some(key)) => Some(acceptor(cert, key)?),
            _ => None,
        };
        Ok(Self {
            hostname: config.smtp_hostname.clone(),
            limits: Limits {
                max_message_bytes: config.smtp_max_message_bytes,
                max_recipients: config.smtp_max_recipients,
                ..Limits::default()
            },
            idle: Duration::from_secs(config.smtp_idle_secs.max(1)),
            session: Duration::from_secs(config.smtp_session_secs.max(1)),
            tls,
        })
    }
}

/// A TLS acceptor from PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds the listener and serves it in the background; the bound address.
pub async fn start(state: AppState, addr: SocketAddr, settings: SmtpSettings) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding SMTP on {addr}"))?;
    let bound = listener.local_addr()?;
    let starttls = settings.tls.is_some();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = state.clone();
            let settings = settings.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let span = tracing::info_span!("smtp", %peer);
                let _ = tracing::Instrument::instrument(serve(state, stream, settings), span).await;
            });
        }
    });
    tracing::info!(addr = %bound, starttls, "SMTP listener ready");
    Ok(bound)
}

enum Next {
    Done,
    StartTls,
}

async fn serve(state: AppState, stream: tokio::net::TcpStream, settings: SmtpSettings) -> anyhow::Result<()> {
    let deadline = Instant::now() + settings.session;
    let mut session = Session::new(&settings.hostname, settings.limits, settings.tls.is_some());
    let mut plain = BufReader::new(stream);
    plain.get_mut().write_all(session.greeting().as_bytes()).await?;
    match drive(&state, &mut plain, &mut session, &settings, deadline).await? {
        Next::Done => Ok(()),
        Next::StartTls => {
            // Bytes sent after STARTTLS but before the handshake were never encrypted: a
            // man in the middle could have put them there (CVE-2011-0411). Drop the session.
            if !plain.buffer().is_empty() {
                state.metrics.smtp_refusals.inc();
                return Ok(());
            }
            let acceptor = settings.tls.clone().context("STARTTLS without a certificate")?;
            let tls = tokio::time::timeout(settings.idle, acceptor.accept(plain.into_inner()))
                .await
                .context("TLS handshake timed out")??;
            session.tls_started();
            let mut secure = BufReader::new(tls);
            drive(&state, &mut secure, &mut session, &settings, deadline).await?;
            Ok(())
        }
    }
}

async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    state: &AppState,
    io: &mut BufReader<S>,
    session: &mut Session,
    settings: &SmtpSettings,
    deadline: Instant,
) -> anyhow::Result<Next> {
    let max_line = settings.limits.max_line_bytes;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let wait = settings.idle.min(deadline.saturating_duration_since(Instant::now()));
        let read = tokio::time::timeout(wait, (&mut *io).take(max_line as u64 + 1).read_until(b'\n', &mut line)).await;
        let action = match read {
            Err(_) => session.timed_out(),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(0)) => return Ok(Next::Done),
            Ok(Ok(_)) if line.len() > max_line => session.overlong_line(),
            Ok(Ok(_)) => session.line(&line),
        };
        let action = match action {
            Action::CheckRecipient(addr) => match inbound::endpoint_of(&*state.store, &addr).await {
                Ok(found) => session.recipient(found.is_some()),
                Err(e) => {
                    tracing::warn!(error = %e, "recipient check failed");
                    session.recipient_later()
                }
            },
            Action::Deliver(envelope) => {
                let outcome = match inbound::deliver(state, &envelope).await {
                    Ok(()) => Ok(()),
                    Err(Refusal::Permanent(why)) => Err((true, why)),
                    Err(Refusal::Temporary(why)) => {
                        tracing::warn!(%why, "e-mail not stored; the sender will retry");
                        Err((false, why))
                    }
                };
                session.stored(outcome)
            }
            other => other,
        };
        match action {
            Action::Reply(r) => {
                if r.starts_with('4') || r.starts_with('5') {
                    state.metrics.smtp_refusals.inc();
                }
                io.get_mut().write_all(r.as_bytes()).await?;
            }
            Action::ReplyAndClose(r) => {
                state.metrics.smtp_refusals.inc();
                let _ = io.get_mut().write_all(r.as_bytes()).await;
                let _ = io.get_mut().shutdown().await;
                return Ok(Next::Done);
            }
            Action::StartTls(r) => {
                io.get_mut().write_all(r.as_bytes()).await?;
                return Ok(Next::StartTls);
            }
            Action::Nothing | Action::CheckRecipient(_) | Action::Deliver(_) => {}
        }
        if session.is_closed() {
            return Ok(Next::Done);
        }
    }
}
