//! Stripe's webhook events, read for what they mean to a tenant's account. Only the fields used
//! are read, so events from any API version (and from localstripe's older shapes) work.

use serde_json::Value;
use switchboard_domain::SubscriptionStatus;

/// An event as Stripe sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// `evt_...`: the same id is the same event, however often it is delivered.
    pub id: String,
    /// `invoice.paid`, ...
    pub kind: String,
    /// When Stripe created it (Unix seconds).
    pub created: i64,
    /// `data.object`.
    pub object: Value,
}

/// Why an event body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not an event.
    #[error("not a Stripe event: {0}")]
    Malformed(String),
}

/// What an event means for billing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingEvent {
    /// Checkout finished: the customer has a subscription.
    CheckoutCompleted {
        /// The customer.
        customer: String,
        /// The new subscription.
        subscription: Option<String>,
    },
    /// A subscription was created or changed.
    SubscriptionChanged {
        /// The customer.
        customer: String,
        /// The subscription.
        subscription: String,
        /// Its status (None: a status word we do not know, left as it was).
        status: Option<SubscriptionStatus>,
        /// Its items: (item id, price id, quantity).
        items: Vec<(String, String, u32)>,
    },
    /// A subscription ended.
    SubscriptionDeleted {
        /// The customer.
        customer: String,
        /// The subscription.
        subscription: String,
    },
    /// An invoice was paid.
    InvoicePaid {
        /// The customer.
        customer: String,
        /// Its subscription.
        subscription: Option<String>,
    },
    /// Paying an invoice failed.
    InvoicePaymentFailed {
        /// The customer.
        customer: String,
        /// Its subscription.
        subscription: Option<String>,
    },
    /// Something billing does not act on.
    Ignored,
}

impl StripeEvent {
    /// Reads an event body.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let id = text("id").filter(|s| !s.is_empty()).ok_or_else(|| EventError::Malformed("no id".into()))?;
        if v.get("object").and_then(Value::as_str) != Some("event") {
            return Err(EventError::Malformed("object is not `event`".into()));
        }
        let kind = text("type").ok_or_else(|| EventError::Malformed("no type".into()))?;
        let created =
            v.get("created").and_then(Value::as_i64).ok_or_else(|| EventError::Malformed("no created".into()))?;
        let object = v
            .get("data")
            .and_then(|d| d.get("object"))
            .cloned()
            .ok_or_else(|| EventError::Malformed("no data.object".into()))?;
        Ok(Self { id, kind, created, object })
    }

    /// The Stripe customer the event is about, if any.
    pub fn customer(&self) -> Option<&str> {
        id_of(self.object.get("customer"))
    }

    /// What the event means for billing.
    pub fn meaning(&self) -> BillingEvent {
        let o = &self.object;
        let Some(customer) = self.customer().map(str::to_owned) else { return BillingEvent::Ignored };
        let subscription = id_of(o.get("subscription")).map(str::to_owned).or_else(|| {
            // Newer API versions move an invoice's subscription under `parent`.
            id_of(o.pointer("/parent/subscription_details/subscription")).map(str::to_owned)
        });
        match self.kind.as_str() {
            "checkout.session.completed" => BillingEvent::CheckoutCompleted { customer, subscription },
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.resumed"
            | "customer.subscription.paused" => {
                let Some(id) = o.get("id").and_then(Value::as_str) else { return BillingEvent::Ignored };
                let status = o.get("status").and_then(Value::as_str).and_then(SubscriptionStatus::from_stripe);
                let items = o
                    .pointer("/items/data")
                    .and_then(Value::as_array)
                    .map(|items| items.iter().filter_map(item).collect())
                    .unwrap_or_default();
                BillingEvent::SubscriptionChanged { customer, subscription: id.to_owned(), status, items }
            }
            "customer.subscription.deleted" => match o.get("id").and_then(Value::as_str) {
                Some(id) => BillingEvent::SubscriptionDeleted { customer, subscription: id.to_owned() },
                None => BillingEvent::Ignored,
            },
            "invoice.paid" | "invoice.payment_succeeded" => BillingEvent::InvoicePaid { customer, subscription },
            "invoice.payment_failed" => BillingEvent::InvoicePaymentFailed { customer, subscription },
            // An invoice's payment attempt (older API versions name the invoice on the intent;
            // localstripe reports a retried invoice payment only this way).
            "payment_intent.payment_failed" if o.get("invoice").is_some_and(|i| !i.is_null()) => {
                BillingEvent::InvoicePaymentFailed { customer, subscription }
            }
            _ => BillingEvent::Ignored,
        }
    }
}

/// An id field, whether Stripe sent the id or the expanded object.
fn id_of(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// (item id, price id, quantity) of a subscription item; localstripe names the price `plan`.
fn item(v: &Value) -> Option<(String, String, u32)> {
    let id = v.get("id")?.as_str()?.to_owned();
    let price = id_of(v.get("price")).or_else(|| id_of(v.get("plan")))?.to_owned();
    // Stripe sends a number; localstripe echoes a form string.
    let quantity = match v.get("quantity") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let quantity = quantity.min(u64::from(u32::MAX)) as u32;
    Some((id, price, quantity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, object: Value) -> Vec<u8> {
        json!({"id": "evt_1", "object": "event", "type": kind, "created": 100, "data": {"object": object}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn subscriptions_are_read_in_both_price_and_plan_shapes() {
        let e = StripeEvent::parse(&event(
            "customer.subscription.created",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active", "items": {"data": [
                {"id": "si_1", "price": {"id": "price_seat"}, "quantity": 3},
                {"id": "si_2", "plan": {"id": "price_sms"}}
            ]}}),
        ))
        .expect("parses");
        assert_eq!(
            e.meaning(),
            BillingEvent::SubscriptionChanged {
                customer: "cus_1".into(),
                subscription: "sub_1".into(),
                status: Some(SubscriptionStatus::Active),
                items: vec![("si_1".into(), "price_seat".into(), 3), ("si_2".into(), "price_sms".into(), 0)],
            }
        );
    }

    #[test]
    fn invoices_name_their_subscription_in_old_and_new_shapes() {
        let old =
            StripeEvent::parse(&event("invoice.payment_failed", json!({"customer": "cus_1", "subscription": "sub_1"})));
        let new = StripeEvent::parse(&event(
            "invoice.paid",
            json!({"customer": {"id": "cus_1"}, "parent": {"subscription_details": {"subscription": "sub_1"}}}),
        ));
        assert_eq!(
            old.expect("old").meaning(),
            BillingEvent::InvoicePaymentFailed { customer: "cus_1".into(), subscription: Some("sub_1".into()) }
        );
        assert_eq!(
            new.expect("new").meaning(),
            BillingEvent::InvoicePaid { customer: "cus_1".into(), subscription: Some("sub_1".into()) }
        );
    }

    #[test]
    fn bodies_that_are_not_events_are_refused() {
        for bad in [
            &b"not json"[..],
            br#"{"id":"evt_1"}"#,
            br#"{"id":"","object":"event","type":"x","created":1,"data":{"object":{}}}"#,
            br#"{"id":"evt","object":"charge","type":"x","created":1,"data":{"object":{}}}"#,
        ] {
            assert!(StripeEvent::parse(bad).is_err());
        }
        let e = StripeEvent::parse(&event("product.created", json!({"id": "prod_1"}))).expect("parses");
        assert_eq!(e.meaning(), BillingEvent::Ignored);
    }
}
