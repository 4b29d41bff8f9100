//! Business hours: a weekly schedule in the tenant's time zone, with closed dates.

use crate::{BusinessHoursId, UnixMillis};

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayOfWeek {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl DayOfWeek {
    fn from_jiff(w: jiff::civil::Weekday) -> Self {
        use jiff::civil::Weekday as W;
        match w {
            W::Monday => DayOfWeek::Mon,
            W::Tuesday => DayOfWeek::Tue,
            W::Wednesday => DayOfWeek::Wed,
            W::Thursday => DayOfWeek::Thu,
            W::Friday => DayOfWeek::Fri,
            W::Saturday => DayOfWeek::Sat,
            W::Sunday => DayOfWeek::Sun,
        }
    }
}

/// Open from `open` until `close` (local "HH:MM", close after open) on `day`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenSpan {
    /// The weekday.
    pub day: DayOfWeek,
    /// Opening time, "HH:MM".
    pub open: String,
    /// Closing time, "HH:MM" (exclusive; "24:00" for midnight).
    pub close: String,
}

/// A named weekly schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BusinessHours {
    /// Its id.
    pub id: BusinessHoursId,
    /// A label, unique within the tenant.
    pub name: String,
    /// IANA time zone, e.g. "Europe/Berlin".
    pub timezone: String,
    /// When it is open.
    pub weekly: Vec<OpenSpan>,
    /// Local dates ("YYYY-MM-DD") when it is closed all day (holidays).
    #[serde(default)]
    pub closed_dates: Vec<String>,
}

/// One problem with a schedule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct HoursError {
    /// A JSON path such as `weekly[2].close`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn minutes(hhmm: &str) -> Option<u16> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

impl BusinessHours {
    /// Every problem with the schedule (empty when valid).
    pub fn problems(&self) -> Vec<HoursError> {
        let mut out = Vec::new();
        let mut err = |field: String, message: &str| out.push(HoursError { field, message: message.to_owned() });
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            err("timezone".into(), "unknown IANA time zone (e.g. Europe/Berlin)");
        }
        for (i, span) in self.weekly.iter().enumerate() {
            let open = minutes(&span.open);
            let close = minutes(&span.close);
            if open.is_none() {
                err(format!("weekly[{i}].open"), "must be HH:MM");
            }
            if close.is_none() {
                err(format!("weekly[{i}].close"), "must be HH:MM");
            }
            if let (Some(o), Some(c)) = (open, close)
                && c <= o
            {
                err(format!("weekly[{i}].close"), "must be after open");
            }
        }
        for (i, d) in self.closed_dates.iter().enumerate() {
            if d.parse::<jiff::civil::Date>().is_err() {
                err(format!("closed_dates[{i}]"), "must be a date YYYY-MM-DD");
            }
        }
        out
    }

    /// Whether the schedule is open at `at`. An invalid schedule is treated as closed.
    pub fn is_open(&self, at: UnixMillis) -> bool {
        let Ok(tz) = jiff::tz::TimeZone::get(&self.timezone) else {
            return false;
        };
        let Ok(ts) = jiff::Timestamp::from_millisecond(at) else {
            return false;
        };
        let local = ts.to_zoned(tz);
        let date = local.date().to_string();
        if self.closed_dates.contains(&date) {
            return false;
        }
        let day = DayOfWeek::from_jiff(local.weekday());
        let now = local.hour() as u16 * 60 + local.minute() as u16;
        self.weekly.iter().any(|s| {
            s.day == day && matches!((minutes(&s.open), minutes(&s.close)), (Some(o), Some(c)) if o <= now && now < c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> BusinessHours {
        BusinessHours {
            id: BusinessHoursId::generate(),
            name: "office".into(),
            timezone: "Europe/Berlin".into(),
            weekly: vec![OpenSpan { day: DayOfWeek::Mon, open: "09:00".into(), close: "17:00".into() }],
            closed_dates: vec!["2026-12-28".into()],
        }
    }

    fn at(s: &str) -> UnixMillis {
        s.parse::<jiff::Timestamp>().expect("timestamp").as_millisecond()
    }

    #[test]
    fn open_inside_the_local_span() {
        // Monday 2026-11-23 09:30 in Berlin is 08:30 UTC.
        assert!(office().is_open(at("2026-11-23T08:30:00Z")));
    }

    #[test]
    fn closed_outside_the_local_span_and_on_other_days() {
        assert!(!office().is_open(at("2026-11-23T07:59:00Z")));
        assert!(!office().is_open(at("2026-11-23T16:00:00Z")));
        assert!(!office().is_open(at("2026-11-24T08:30:00Z")));
    }

    #[test]
    fn closed_dates_win_over_the_weekly_schedule() {
        assert!(!office().is_open(at("2026-12-28T09:00:00Z")));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut h = office();
        h.timezone = "Mars/Olympus".into();
        h.weekly.push(OpenSpan { day: DayOfWeek::Tue, open: "9am".into(), close: "08:00".into() });
        h.weekly.push(OpenSpan { day: DayOfWeek::Wed, open: "10:00".into(), close: "09:00".into() });
        h.closed_dates.push("someday".into());
        let fields: Vec<String> = h.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["timezone", "weekly[1].open", "weekly[2].close", "closed_dates[1]"]);
    }
}
