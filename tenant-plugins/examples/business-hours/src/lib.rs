//! Business hours with holidays: outside opening hours (or on a holiday) calls go straight to
//! voicemail, and texts (chat, SMS, e-mail) are taken but tagged `after_hours=yes` so agents and
//! auto-replies know; during opening hours nothing changes.
//!
//! The schedule is the tenant secret `schedule` (JSON; without it, Monday to Friday 09:00-17:00
//! UTC and no holidays):
//!
//! ```json
//! {"utc_offset_minutes": 60,
//!  "week": {"mon": "09:00-17:00", "tue": "09:00-17:00", "sat": "10:00-13:00"},
//!  "holidays": ["12-25", "12-26", "2026-04-03"]}
//! ```
//!
//! Days left out are closed; `MM-DD` holidays recur every year. The decision uses the time the
//! contact arrived, so replaying the plugin against past contacts gives the answer it gave then.

use switchboard_plugin_sdk::*;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DEFAULT: &str = r#"{"utc_offset_minutes": 0, "week": {"mon": "09:00-17:00", "tue": "09:00-17:00",
  "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}, "holidays": []}"#;

struct Hours;

impl Plugin for Hours {
    fn describe() -> Manifest {
        Manifest::hooks(&[Hook::OnContact]).secrets(&["schedule"])
    }

    fn on_contact(contact: Contact) -> ContactDecision {
        let text = secrets::get("schedule").unwrap_or_else(|| DEFAULT.to_owned());
        let schedule: serde_json::Value = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                log::error(&format!("the schedule secret is not JSON ({e}); treating as open"));
                return ContactDecision::default();
            }
        };
        match closed_because(&schedule, contact.arrived_ms) {
            None => ContactDecision::default(),
            Some(why) => {
                log::info(&format!("closed: {why}"));
                match contact.channel {
                    Channel::Voice | Channel::Webrtc => ContactDecision::Voicemail,
                    _ => ContactDecision::Route(Route {
                        attributes: vec![attr("after_hours", "yes"), attr("closed_because", &why)],
                        ..Route::default()
                    }),
                }
            }
        }
    }
}

/// Why the business is closed at `at_ms` (Unix ms), or None when open.
fn closed_because(schedule: &serde_json::Value, at_ms: u64) -> Option<String> {
    let offset = schedule["utc_offset_minutes"].as_i64().unwrap_or(0);
    let local_minutes = (at_ms / 60_000) as i64 + offset;
    let days = local_minutes.div_euclid(1440);
    let minute_of_day = local_minutes.rem_euclid(1440);
    let (year, month, day) = civil_from_days(days);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let holidays = schedule["holidays"].as_array().cloned().unwrap_or_default();
    if holidays.iter().filter_map(|h| h.as_str()).any(|h| h == date || h == &date[5..]) {
        return Some(format!("holiday {date}"));
    }
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = DAYS[(days + 3).rem_euclid(7) as usize];
    let Some(range) = schedule["week"][weekday].as_str() else {
        return Some(format!("closed on {weekday}"));
    };
    let (open, close) = range.split_once('-')?;
    let (open, close) = (minutes(open)?, minutes(close)?);
    if minute_of_day >= open && minute_of_day < close { None } else { Some(format!("outside {range} on {weekday}")) }
}

/// `HH:MM` → minutes since midnight (`24:00` allowed).
fn minutes(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60).then_some(h * 60 + m)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

plugin!(Hours);

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(s: &str) -> serde_json::Value {
        serde_json::from_str(s).expect("json")
    }

    #[test]
    fn dates_and_weekdays() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn open_closed_and_holidays() {
        let s = schedule(DEFAULT);
        // 2026-11-23 is a Monday; 12:00 UTC.
        let monday_noon = 1_795_435_200_000;
        assert_eq!(closed_because(&s, monday_noon), None);
        assert!(closed_because(&s, monday_noon + 6 * 3_600_000).is_some_and(|w| w.contains("outside")));
        assert!(closed_because(&s, monday_noon - 2 * 86_400_000).is_some_and(|w| w.contains("sat")));
        let h = schedule(r#"{"week": {"mon": "00:00-24:00"}, "holidays": ["11-23"]}"#);
        assert!(closed_because(&h, monday_noon).is_some_and(|w| w.contains("holiday 2026-11-23")));
        let berlin = schedule(r#"{"utc_offset_minutes": 60, "week": {"mon": "09:00-12:30"}}"#);
        assert!(closed_because(&berlin, monday_noon).is_some(), "13:00 in Berlin");
    }
}
