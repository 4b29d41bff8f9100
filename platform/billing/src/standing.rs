//! A tenant's standing: whether it gets service, from its account and the time. An unpaid
//! tenant keeps full service through a grace period, then is suspended: customers are told
//! politely that the service is unavailable, nothing stored is lost, and paying restores it.

use switchboard_domain::{BillingAccount, SubscriptionStatus, UnixMillis};

use crate::{BillingEvent, Catalogue};

/// Whether a tenant gets service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Billing is off for this deployment.
    Off,
    /// Paid up (or in Stripe's trial).
    Good,
    /// In the plan's free period, before any subscription.
    Trial {
        /// When it ends.
        until: UnixMillis,
    },
    /// A payment failed; service continues until `until`.
    Grace {
        /// When service stops unless paid.
        until: UnixMillis,
    },
    /// No service for customers until paid.
    Suspended {
        /// Why, for the tenant's owner.
        reason: &'static str,
    },
}

impl Standing {
    /// Whether customers and agents get service.
    pub fn serves(&self) -> bool {
        !matches!(self, Standing::Suspended { .. })
    }
}

/// The account's standing at `now`.
pub fn standing(account: &BillingAccount, catalogue: &Catalogue, now: UnixMillis, grace_ms: i64) -> Standing {
    let trial_until = || {
        let days = catalogue.plan(&account.plan).map_or(0, |p| p.trial_days);
        account.created_at.saturating_add(i64::from(days) * 86_400_000)
    };
    match account.status {
        SubscriptionStatus::None | SubscriptionStatus::Incomplete => {
            let until = trial_until();
            if now < until { Standing::Trial { until } } else { Standing::Suspended { reason: "no paid subscription" } }
        }
        SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue => {
            match account.payment_failed_at {
                None => Standing::Good,
                Some(failed) => {
                    let until = failed.saturating_add(grace_ms);
                    if now < until {
                        Standing::Grace { until }
                    } else {
                        Standing::Suspended { reason: "payment overdue" }
                    }
                }
            }
        }
        SubscriptionStatus::Unpaid => Standing::Suspended { reason: "payment overdue" },
        SubscriptionStatus::Canceled => Standing::Suspended { reason: "subscription canceled" },
    }
}

/// Applies what an event (created at `created`, Unix seconds) means to the account; returns
/// whether anything changed. An event older than the newest one applied changes nothing, so
/// late or repeated deliveries never undo newer news.
pub fn apply(account: &mut BillingAccount, event: &BillingEvent, created: i64, catalogue: &Catalogue) -> bool {
    if created < account.last_event_at {
        return false;
    }
    let before = account.clone();
    let ours = |sub: &Option<String>, account: &BillingAccount| match (sub, &account.subscription_id) {
        (Some(s), Some(current)) => s == current,
        _ => true,
    };
    match event {
        BillingEvent::CheckoutCompleted { subscription, .. } => {
            if let Some(s) = subscription {
                account.subscription_id = Some(s.clone());
            }
            if matches!(account.status, SubscriptionStatus::None | SubscriptionStatus::Incomplete) {
                account.status = SubscriptionStatus::Active;
            }
        }
        BillingEvent::SubscriptionChanged { subscription, status, items, .. } => {
            if account.subscription_id.as_ref() != Some(subscription) {
                // A subscription bought after the last one ended replaces it; while one is live,
                // another is Stripe's to sort out and is not followed.
                let free = account.subscription_id.is_none() || account.status == SubscriptionStatus::Canceled;
                if !free {
                    return false;
                }
                account.subscription_id = Some(subscription.clone());
                account.seat_item_id = None;
                account.seats_reported = None;
            }
            if let Some(s) = status {
                account.status = *s;
                match s {
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing => account.payment_failed_at = None,
                    SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                        account.payment_failed_at.get_or_insert(created.saturating_mul(1000));
                    }
                    _ => {}
                }
            }
            // The seat item tells the plan: a plan changed in Stripe's portal follows here.
            for (item, price, quantity) in items {
                if let Some(plan) = catalogue.plan_by_seat_price(price) {
                    account.plan = plan.id.clone();
                    account.seat_item_id = Some(item.clone());
                    account.seats_reported = Some(*quantity);
                }
            }
        }
        BillingEvent::SubscriptionDeleted { subscription, .. } => {
            if account.subscription_id.as_ref() != Some(subscription) {
                return false;
            }
            account.status = SubscriptionStatus::Canceled;
        }
        BillingEvent::InvoicePaid { subscription, .. } => {
            if !ours(subscription, account) {
                return false;
            }
            {
                account.payment_failed_at = None;
                if matches!(
                    account.status,
                    SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid | SubscriptionStatus::Incomplete
                ) {
                    account.status = SubscriptionStatus::Active;
                }
            }
        }
        BillingEvent::InvoicePaymentFailed { subscription, .. } => {
            if !ours(subscription, account) {
                return false;
            }
            if account.status != SubscriptionStatus::Canceled {
                account.payment_failed_at.get_or_insert(created.saturating_mul(1000));
                if matches!(account.status, SubscriptionStatus::Active | SubscriptionStatus::Trialing) {
                    account.status = SubscriptionStatus::PastDue;
                }
            }
        }
        BillingEvent::Ignored => return false,
    }
    account.last_event_at = created;
    *account != before
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn account() -> BillingAccount {
        BillingAccount {
            plan: "trial".into(),
            customer_id: Some("cus_1".into()),
            subscription_id: None,
            seat_item_id: None,
            seats_reported: None,
            status: SubscriptionStatus::None,
            payment_failed_at: None,
            last_event_at: 0,
            created_at: 0,
        }
    }

    fn subscribed(status: SubscriptionStatus) -> BillingEvent {
        BillingEvent::SubscriptionChanged {
            customer: "cus_1".into(),
            subscription: "sub_1".into(),
            status: Some(status),
            items: vec![("si_1".into(), "price_team_seat".into(), 2), ("si_2".into(), "price_sms_segment".into(), 0)],
        }
    }

    fn failed() -> BillingEvent {
        BillingEvent::InvoicePaymentFailed { customer: "cus_1".into(), subscription: Some("sub_1".into()) }
    }

    fn paid() -> BillingEvent {
        BillingEvent::InvoicePaid { customer: "cus_1".into(), subscription: Some("sub_1".into()) }
    }

    #[test]
    fn the_trial_serves_until_it_ends_without_a_subscription() {
        let c = Catalogue::default();
        let a = account();
        assert_eq!(standing(&a, &c, DAY, 7 * DAY), Standing::Trial { until: 14 * DAY });
        assert_eq!(standing(&a, &c, 14 * DAY, 7 * DAY), Standing::Suspended { reason: "no paid subscription" });
    }

    #[test]
    fn a_failed_payment_gives_grace_then_suspends_and_paying_restores() {
        let c = Catalogue::default();
        let mut a = account();
        assert!(apply(&mut a, &subscribed(SubscriptionStatus::Active), 10, &c));
        assert_eq!((a.plan.as_str(), a.seat_item_id.as_deref(), a.seats_reported), ("team", Some("si_1"), Some(2)));
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Good);

        assert!(apply(&mut a, &failed(), 20, &c));
        assert_eq!(a.status, SubscriptionStatus::PastDue);
        assert_eq!(standing(&a, &c, 20_000 + DAY, 7 * DAY), Standing::Grace { until: 20_000 + 7 * DAY });
        assert!(!standing(&a, &c, 20_000 + 7 * DAY, 7 * DAY).serves());

        // A second failure does not restart the grace period.
        apply(&mut a, &failed(), 30, &c);
        assert_eq!(a.payment_failed_at, Some(20_000));

        assert!(apply(&mut a, &paid(), 40, &c));
        assert_eq!(a.status, SubscriptionStatus::Active);
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Good);
    }

    #[test]
    fn late_or_repeated_events_never_undo_newer_news() {
        let c = Catalogue::default();
        let mut a = account();
        apply(&mut a, &subscribed(SubscriptionStatus::Active), 10, &c);
        apply(&mut a, &paid(), 50, &c);
        // The failure that was fixed by the payment arrives late.
        assert!(!apply(&mut a, &failed(), 40, &c));
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Good);
        // The same event again changes nothing.
        assert!(!apply(&mut a, &paid(), 50, &c));
    }

    #[test]
    fn cancellation_suspends_and_a_new_subscription_restores() {
        let c = Catalogue::default();
        let mut a = account();
        apply(&mut a, &subscribed(SubscriptionStatus::Active), 10, &c);
        apply(
            &mut a,
            &BillingEvent::SubscriptionDeleted { customer: "cus_1".into(), subscription: "sub_1".into() },
            20,
            &c,
        );
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Suspended { reason: "subscription canceled" });
        let again = BillingEvent::SubscriptionChanged {
            customer: "cus_1".into(),
            subscription: "sub_2".into(),
            status: Some(SubscriptionStatus::Active),
            items: vec![("si_9".into(), "price_business_seat".into(), 4)],
        };
        assert!(apply(&mut a, &again, 30, &c));
        assert_eq!((a.subscription_id.as_deref(), a.plan.as_str()), (Some("sub_2"), "business"));
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Good);
    }

    #[test]
    fn events_of_another_subscription_leave_the_account_alone() {
        let c = Catalogue::default();
        let mut a = account();
        apply(&mut a, &subscribed(SubscriptionStatus::Active), 10, &c);
        let other =
            BillingEvent::InvoicePaymentFailed { customer: "cus_1".into(), subscription: Some("sub_old".into()) };
        assert!(!apply(&mut a, &other, 20, &c));
        assert_eq!(standing(&a, &c, 100 * DAY, 7 * DAY), Standing::Good);
    }
}
