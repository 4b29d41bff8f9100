//! Plans as configuration: what a tenant can buy, which Stripe prices bill it, and which meters
//! report its usage. Operators replace the built-in catalogue with their own file (their Stripe
//! price ids); a catalogue that does not hold together is refused at start-up.

use std::collections::HashSet;

use switchboard_domain::UsageKind;

/// Every plan and meter on offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The plan a new tenant gets when it names none.
    pub default_plan: String,
    /// The plans.
    pub plans: Vec<Plan>,
    /// Metered usage reported to Stripe, at most one meter per kind.
    #[serde(default)]
    pub meters: Vec<Meter>,
}

/// One plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Stable id (`team`).
    pub id: String,
    /// Shown to people.
    pub name: String,
    /// The Stripe price billed per agent seat; None for a plan that needs no subscription (a
    /// free trial).
    #[serde(default)]
    pub seat_price: Option<String>,
    /// Price per seat and month in cents, for display (Stripe's price is what is charged).
    #[serde(default)]
    pub seat_cents: u32,
    /// Days of service before a subscription is needed (or Stripe's trial on subscribing).
    #[serde(default)]
    pub trial_days: u32,
    /// Most agents the plan allows, if limited.
    #[serde(default)]
    pub max_agents: Option<u32>,
}

/// One meter: a usage kind, the Stripe meter's event name, and the metered price that bills it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meter {
    /// What it counts.
    pub kind: UsageKind,
    /// The Stripe billing meter's `event_name`.
    pub event_name: String,
    /// The metered Stripe price added to subscriptions.
    pub price: String,
    /// Price per unit in hundredths of a cent, for display.
    #[serde(default)]
    pub unit_centicents: u32,
}

/// Why a catalogue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// No plans.
    #[error("the catalogue has no plans")]
    Empty,
    /// Two plans share an id.
    #[error("plan id `{0}` appears twice")]
    DuplicatePlan(String),
    /// The default plan is not in the list.
    #[error("default_plan `{0}` is not one of the plans")]
    UnknownDefault(String),
    /// A field that must have a value is blank or badly formed.
    #[error("{0}")]
    Invalid(String),
    /// Two meters count the same kind.
    #[error("two meters count {0}")]
    DuplicateMeter(&'static str),
}

impl Catalogue {
    /// The plan with this id.
    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan whose seat price this is (a plan changed in Stripe's portal).
    pub fn plan_by_seat_price(&self, price: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.seat_price.as_deref() == Some(price))
    }

    /// The meter of a usage kind.
    pub fn meter(&self, kind: UsageKind) -> Option<&Meter> {
        self.meters.iter().find(|m| m.kind == kind)
    }

    /// Checks that the catalogue holds together.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        if self.plans.is_empty() {
            return Err(CatalogueError::Empty);
        }
        let mut ids = HashSet::new();
        for p in &self.plans {
            if !is_word(&p.id) {
                return Err(CatalogueError::Invalid(format!(
                    "plan id `{}` must be 1-40 lowercase letters, digits, `-` or `_`",
                    p.id
                )));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(CatalogueError::DuplicatePlan(p.id.clone()));
            }
            if p.name.trim().is_empty() {
                return Err(CatalogueError::Invalid(format!("plan `{}` has no name", p.id)));
            }
            if p.seat_price.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(CatalogueError::Invalid(format!("plan `{}` has a blank seat_price", p.id)));
            }
            if p.seat_price.is_none() && p.trial_days == 0 {
                return Err(CatalogueError::Invalid(format!(
                    "plan `{}` has neither a seat_price nor trial days: it could never be used",
                    p.id
                )));
            }
        }
        if self.plan(&self.default_plan).is_none() {
            return Err(CatalogueError::UnknownDefault(self.default_plan.clone()));
        }
        let mut kinds = HashSet::new();
        for m in &self.meters {
            if !kinds.insert(m.kind) {
                return Err(CatalogueError::DuplicateMeter(m.kind.as_str()));
            }
            if !is_word(&m.event_name) || m.price.trim().is_empty() {
                return Err(CatalogueError::Invalid(format!(
                    "meter {} needs an event_name (letters, digits, `-`, `_`) and a price",
                    m.kind.as_str()
                )));
            }
        }
        Ok(())
    }
}

impl Default for Catalogue {
    /// The built-in catalogue: a 14-day free trial and two per-seat plans with metered voice,
    /// SMS and recording storage. Its price ids are placeholders an operator replaces.
    fn default() -> Self {
        let plan = |id: &str, name: &str, seat_price: Option<&str>, seat_cents, trial_days, max_agents| Plan {
            id: id.into(),
            name: name.into(),
            seat_price: seat_price.map(Into::into),
            seat_cents,
            trial_days,
            max_agents,
        };
        let meter = |kind, event_name: &str, price: &str, unit_centicents| Meter {
            kind,
            event_name: event_name.into(),
            price: price.into(),
            unit_centicents,
        };
        Self {
            default_plan: "trial".into(),
            plans: vec![
                plan("trial", "Free trial", None, 0, 14, Some(3)),
                plan("team", "Team", Some("price_team_seat"), 2900, 0, Some(50)),
                plan("business", "Business", Some("price_business_seat"), 5900, 0, None),
            ],
            meters: vec![
                meter(UsageKind::VoiceMinutes, "switchboard_voice_minutes", "price_voice_minute", 130),
                meter(UsageKind::SmsSegments, "switchboard_sms_segments", "price_sms_segment", 80),
                meter(UsageKind::RecordingStorage, "switchboard_recording_mb_days", "price_recording_mb_day", 1),
            ],
        }
    }
}

fn is_word(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogue_holds_together() {
        let c = Catalogue::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.plan_by_seat_price("price_team_seat").map(|p| p.id.as_str()), Some("team"));
        assert!(c.meter(UsageKind::SmsSegments).is_some());
    }

    #[test]
    fn broken_catalogues_are_refused_with_the_reason() {
        let c = Catalogue { default_plan: "gold".into(), ..Catalogue::default() };
        assert_eq!(c.validate(), Err(CatalogueError::UnknownDefault("gold".into())));

        let mut c = Catalogue::default();
        let dup = c.plans[1].clone();
        c.plans.push(dup);
        assert_eq!(c.validate(), Err(CatalogueError::DuplicatePlan("team".into())));

        let mut c = Catalogue::default();
        let dup = c.meters[0].clone();
        c.meters.push(dup);
        assert_eq!(c.validate(), Err(CatalogueError::DuplicateMeter("voice_minutes")));

        let mut c = Catalogue::default();
        c.plans[0].trial_days = 0;
        assert!(matches!(c.validate(), Err(CatalogueError::Invalid(m)) if m.contains("never be used")));

        let c = Catalogue { default_plan: "x".into(), plans: vec![], meters: vec![] };
        assert_eq!(c.validate(), Err(CatalogueError::Empty));
    }
}
