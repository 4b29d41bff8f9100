//! After-call survey: when an agent finishes a contact, the customer gets a short survey by SMS
//! (phone numbers) or e-mail (addresses), at most once every 30 days per customer (remembered
//! in the key-value store), never for contacts closed as `spam` or `no-survey`. The contact is
//! marked `survey=sent` (or why not) so reports can count answers against surveys.

use switchboard_plugin_sdk::*;

const QUIET_MS: u64 = 30 * 86_400_000;
const SKIP: &[&str] = &["spam", "no-survey", "wrong-number"];

struct Survey;

impl Plugin for Survey {
    fn describe() -> Manifest {
        Manifest::hooks(&[Hook::OnWrapUp]).kv()
    }

    fn on_wrap_up(finished: FinishedContact) -> Vec<WrapUpAction> {
        let mark = |why: &str| vec![WrapUpAction::SetAttributes(vec![attr("survey", why)])];
        if finished.disposition.as_deref().is_some_and(|d| SKIP.contains(&d)) {
            return mark("skipped: disposition");
        }
        let Some(customer) = finished.contact.customer.clone() else { return mark("skipped: no customer") };
        let key = format!("surveyed:{customer}");
        let now = clock::now_ms();
        let last: Option<u64> = kv::get(&key).ok().flatten().and_then(|v| v.parse().ok());
        if last.is_some_and(|at| now.saturating_sub(at) < QUIET_MS) {
            return mark("skipped: surveyed recently");
        }
        let send = if customer.starts_with('+') {
            WrapUpAction::SendSms(OutgoingSms {
                to: customer.clone(),
                text: "Thanks for contacting us today. How did we do? Reply with a number from 1 (poor) to 5 (great)."
                    .into(),
            })
        } else if customer.contains('@') {
            WrapUpAction::SendEmail(OutgoingEmail {
                to: customer.clone(),
                subject: "How did we do?".into(),
                body: "Thanks for contacting us today. Reply to this e-mail with a number from 1 (poor) to 5 \
                       (great) and anything you would like to tell us."
                    .into(),
            })
        } else {
            return mark("skipped: no phone number or e-mail address");
        };
        if let Err(e) = kv::set(&key, &now.to_string()) {
            log::warn(&format!("could not remember the survey: {e:?}"));
        }
        log::info("survey sent");
        vec![send, WrapUpAction::SetAttributes(vec![attr("survey", "sent")])]
    }
}

plugin!(Survey);
