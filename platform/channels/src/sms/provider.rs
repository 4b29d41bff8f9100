//! Sending SMS through a provider: the adapter trait and the Twilio-compatible REST adapter (base
//! URL configurable, so other compatible providers and local test servers work the same way).

use std::time::Duration;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Our number.
    pub from: String,
    /// The customer's number.
    pub to: String,
    /// The text.
    pub body: String,
    /// Where the provider reports delivery status.
    pub status_callback: Option<String>,
}

/// What the provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The provider's message id.
    pub provider_id: String,
    /// Its first status (`queued`, `sent`...).
    pub status: String,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider refused the message (bad number, opted out at the carrier, bad credentials).
    #[error("provider refused the message ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The provider's explanation.
        message: String,
    },
    /// The provider could not be reached or answered nonsense; sending again may work.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// A way to send SMS.
#[async_trait::async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends one message.
    async fn send(&self, sms: &OutboundSms) -> Result<SentSms, SmsError>;
}

/// The Twilio REST API (`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, basic auth).
#[derive(Debug, Clone)]
pub struct TwilioRest {
    client: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
}

impl TwilioRest {
    /// An adapter for one account.
    pub fn new(base_url: &str, account_sid: &str, auth_token: &str) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        }
    }
}

#[derive(serde::Deserialize)]
struct Created {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(serde::Deserialize)]
struct Refusal {
    #[serde(default)]
    message: Option<String>,
}

#[async_trait::async_trait]
impl SmsSender for TwilioRest {
    async fn send(&self, sms: &OutboundSms) -> Result<SentSms, SmsError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid);
        let mut form = vec![("To", sms.to.as_str()), ("From", sms.from.as_str()), ("Body", sms.body.as_str())];
        if let Some(cb) = &sms.status_callback {
            form.push(("StatusCallback", cb.as_str()));
        }
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| SmsError::Unavailable(e.to_string()))?;
        if status.is_success() {
            let created: Created =
                serde_json::from_str(&text).map_err(|e| SmsError::Unavailable(format!("unexpected answer: {e}")))?;
            return Ok(SentSms { provider_id: created.sid, status: created.status.unwrap_or_else(|| "queued".into()) });
        }
        if status.is_server_error() {
            return Err(SmsError::Unavailable(format!("HTTP {status}")));
        }
        let message = serde_json::from_str::<Refusal>(&text).ok().and_then(|r| r.message).unwrap_or(text);
        Err(SmsError::Refused { status: status.as_u16(), message: message.chars().take(500).collect() })
    }
}
