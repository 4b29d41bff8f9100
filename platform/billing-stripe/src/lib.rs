//! The Stripe side of billing, behind [`StripeApi`]: customers, Checkout and billing-portal
//! sessions, invoices, per-seat quantities and meter events. Every call goes to a configurable
//! base URL (Stripe, localstripe, or a local stand-in in tests).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

/// Why a Stripe call failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeApiError {
    /// Stripe could not be reached or did not answer in time (worth retrying).
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stripe's error code (`resource_already_exists`, `card_declined`...), if given.
        code: Option<String>,
        /// Stripe's message.
        message: String,
    },
    /// Stripe's answer lacked what we read from it.
    #[error("Stripe's answer could not be read: {0}")]
    Unreadable(String),
    /// The key or base URL is unusable.
    #[error("Stripe is misconfigured: {0}")]
    Config(String),
}

/// A Checkout Session to create.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// The Stripe customer.
    pub customer: String,
    /// Our tenant id, echoed back as `client_reference_id` and in the subscription's metadata.
    pub tenant: String,
    /// The per-seat price, if the plan has one.
    pub seat_price: Option<String>,
    /// Seats to start with.
    pub seats: u32,
    /// Metered prices to add.
    pub metered_prices: Vec<String>,
    /// Stripe's trial on the new subscription.
    pub trial_days: u32,
    /// Where Stripe sends the buyer after paying.
    pub success_url: String,
    /// Where Stripe sends the buyer on cancel.
    pub cancel_url: String,
}

/// A created Checkout or portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id.
    pub id: String,
    /// Where to send the person.
    pub url: String,
}

/// An invoice, as the admin pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invoice {
    /// Its id.
    pub id: String,
    /// Its number, once finalised.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `void`, `uncollectible`.
    pub status: String,
    /// Total in the currency's smallest unit.
    pub total: i64,
    /// Three-letter currency.
    pub currency: String,
    /// When it was created (Unix seconds).
    pub created: i64,
    /// Stripe's page for it, if any.
    pub hosted_url: Option<String>,
}

/// A meter event: `value` units of `event_name` for `customer`, deduplicated by Stripe on
/// `identifier`.
#[derive(Debug, Clone)]
pub struct MeterEvent<'a> {
    /// The meter's event name.
    pub event_name: &'a str,
    /// The Stripe customer.
    pub customer: &'a str,
    /// Units.
    pub value: u64,
    /// Unique per report: resending it can never count twice.
    pub identifier: &'a str,
    /// When the usage happened (Unix seconds).
    pub timestamp: i64,
}

/// The Stripe API, as billing uses it.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeApi")
    }
}

impl StripeApi {
    /// A client for `secret_key` at `base_url` (None: Stripe itself).
    pub fn new(secret_key: &str, base_url: Option<&str>) -> Result<Self, StripeApiError> {
        let mut builder = ClientBuilder::new(secret_key).timeout(Duration::from_secs(20));
        if let Some(base) = base_url {
            // The client appends `v1/...` to the base as is.
            let base = if base.ends_with('/') { base.to_owned() } else { format!("{base}/") };
            builder = builder.url(base);
        }
        let client = builder.build().map_err(|e| StripeApiError::Config(e.to_string()))?;
        Ok(Self { client })
    }

    /// Creates the customer of a tenant; the same tenant always gets the same customer
    /// (idempotency key), even when a signup is retried.
    pub async fn create_customer(&self, tenant: &str, name: &str, email: &str) -> Result<String, StripeApiError> {
        #[derive(Serialize)]
        struct Form<'a> {
            name: &'a str,
            email: &'a str,
            metadata: Metadata<'a>,
        }
        let form = Form { name, email, metadata: Metadata { tenant_id: tenant } };
        let v = self
            .send(RequestBuilder::new(StripeMethod::Post, "/customers").form(&form), Some(format!("customer-{tenant}")))
            .await?;
        text(&v, "id")
    }

    /// Creates a Checkout Session that subscribes the customer to a plan.
    pub async fn checkout_session(&self, req: &CheckoutRequest) -> Result<Session, StripeApiError> {
        #[derive(Serialize)]
        struct Line<'a> {
            price: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            quantity: Option<u32>,
        }
        #[derive(Serialize)]
        struct SubscriptionData<'a> {
            metadata: Metadata<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            trial_period_days: Option<u32>,
        }
        #[derive(Serialize)]
        struct Form<'a> {
            mode: &'static str,
            customer: &'a str,
            client_reference_id: &'a str,
            line_items: Vec<Line<'a>>,
            subscription_data: SubscriptionData<'a>,
            success_url: &'a str,
            cancel_url: &'a str,
        }
        let mut line_items = Vec::new();
        if let Some(p) = &req.seat_price {
            line_items.push(Line { price: p, quantity: Some(req.seats.max(1)) });
        }
        // Metered prices take no quantity: usage sets what is billed.
        line_items.extend(req.metered_prices.iter().map(|p| Line { price: p, quantity: None }));
        let form = Form {
            mode: "subscription",
            customer: &req.customer,
            client_reference_id: &req.tenant,
            line_items,
            subscription_data: SubscriptionData {
                metadata: Metadata { tenant_id: &req.tenant },
                trial_period_days: (req.trial_days > 0).then_some(req.trial_days),
            },
            success_url: &req.success_url,
            cancel_url: &req.cancel_url,
        };
        let v = self.send(RequestBuilder::new(StripeMethod::Post, "/checkout/sessions").form(&form), None).await?;
        Ok(Session { id: text(&v, "id")?, url: text(&v, "url")? })
    }

    /// Creates a billing-portal session where the customer manages payment methods and plans.
    pub async fn portal_session(&self, customer: &str, return_url: &str) -> Result<Session, StripeApiError> {
        #[derive(Serialize)]
        struct Form<'a> {
            customer: &'a str,
            return_url: &'a str,
        }
        let v = self
            .send(
                RequestBuilder::new(StripeMethod::Post, "/billing_portal/sessions")
                    .form(&Form { customer, return_url }),
                None,
            )
            .await?;
        Ok(Session { id: text(&v, "id")?, url: text(&v, "url")? })
    }

    /// The customer's latest invoices, newest first.
    pub async fn invoices(&self, customer: &str, limit: u32) -> Result<Vec<Invoice>, StripeApiError> {
        #[derive(Serialize)]
        struct Query<'a> {
            customer: &'a str,
            limit: u32,
        }
        let v = self
            .send(
                RequestBuilder::new(StripeMethod::Get, "/invoices")
                    .query(&Query { customer, limit: limit.clamp(1, 100) }),
                None,
            )
            .await?;
        let data =
            v.get("data").and_then(Value::as_array).ok_or_else(|| StripeApiError::Unreadable("no data".into()))?;
        Ok(data
            .iter()
            .filter_map(|i| {
                Some(Invoice {
                    id: i.get("id")?.as_str()?.to_owned(),
                    number: i.get("number").and_then(Value::as_str).map(str::to_owned),
                    status: i.get("status").and_then(Value::as_str).unwrap_or("draft").to_owned(),
                    total: i.get("total").and_then(Value::as_i64).unwrap_or(0),
                    currency: i.get("currency").and_then(Value::as_str).unwrap_or("").to_owned(),
                    created: i.get("created").and_then(Value::as_i64).unwrap_or(0),
                    hosted_url: i.get("hosted_invoice_url").and_then(Value::as_str).map(str::to_owned),
                })
            })
            .collect())
    }

    /// Sets the quantity of a per-seat subscription item.
    pub async fn set_quantity(&self, item: &str, quantity: u32) -> Result<(), StripeApiError> {
        #[derive(Serialize)]
        struct Form {
            quantity: u32,
        }
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StripeApiError::Config(format!("`{item}` is not a subscription item id")));
        }
        let path = format!("/subscription_items/{item}");
        self.send(
            RequestBuilder::new(StripeMethod::Post, path).form(&Form { quantity }),
            Some(format!("seats-{item}-{quantity}")),
        )
        .await?;
        Ok(())
    }

    /// Reports usage to a billing meter. Stripe drops a second event with the same identifier,
    /// so a report resent after a crash or a lost answer counts once.
    pub async fn meter_event(&self, e: &MeterEvent<'_>) -> Result<(), StripeApiError> {
        #[derive(Serialize)]
        struct Payload<'a> {
            stripe_customer_id: &'a str,
            value: String,
        }
        #[derive(Serialize)]
        struct Form<'a> {
            event_name: &'a str,
            identifier: &'a str,
            timestamp: i64,
            payload: Payload<'a>,
        }
        let form = Form {
            event_name: e.event_name,
            identifier: e.identifier,
            timestamp: e.timestamp,
            payload: Payload { stripe_customer_id: e.customer, value: e.value.to_string() },
        };
        match self
            .send(
                RequestBuilder::new(StripeMethod::Post, "/billing/meter_events").form(&form),
                Some(format!("meter-{}", e.identifier)),
            )
            .await
        {
            // Stripe already has this identifier: an earlier attempt got through and its answer
            // was lost. That is the report delivered.
            Err(StripeApiError::Refused { code: Some(code), .. }) if code == "resource_already_exists" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn send(&self, req: RequestBuilder, idempotency: Option<String>) -> Result<Value, StripeApiError> {
        let strategy = match idempotency {
            Some(key) => RequestStrategy::Idempotent(
                IdempotencyKey::new(key).map_err(|e| StripeApiError::Config(format!("idempotency key: {e:?}")))?,
            ),
            // Reads and session creation are safe to retry with the client's own key.
            None => RequestStrategy::ExponentialBackoff(3),
        };
        let raw: miniserde::json::Value =
            req.customize().request_strategy(strategy).send(&self.client).await.map_err(|e| match e {
                StripeError::Stripe(errors, status) => StripeApiError::Refused {
                    status,
                    code: errors.code.as_ref().map(|c| c.as_str().to_owned()),
                    message: errors.message.clone().unwrap_or_default(),
                },
                StripeError::JSONDeserialize(m) => StripeApiError::Unreadable(m),
                StripeError::ConfigError(m) => StripeApiError::Config(m),
                StripeError::ClientError(m) => StripeApiError::Unavailable(m),
                StripeError::Timeout => StripeApiError::Unavailable("timed out".into()),
            })?;
        serde_json::from_str(&miniserde::json::to_string(&raw)).map_err(|e| StripeApiError::Unreadable(e.to_string()))
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    tenant_id: &'a str,
}

fn text(v: &Value, key: &str) -> Result<String, StripeApiError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StripeApiError::Unreadable(format!("no `{key}`")))
}
