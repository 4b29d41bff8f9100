//! The per-call interpreter.

use std::collections::BTreeMap;

use switchboard_domain::{BusinessHours, UnixMillis};

use crate::flow::{Flow, Prompt, Step};
use crate::speech::{key_word, number_words};

/// How an IVR ends: what the edge does with the call next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Wait in this queue.
    Enqueue {
        /// Queue id.
        queue: String,
        /// Priority.
        priority: i32,
    },
    /// Call this number and connect the caller.
    Transfer {
        /// E.164.
        to: String,
    },
    /// Beep, record up to `max_seconds`, make it a contact.
    Voicemail {
        /// Longest message.
        max_seconds: u32,
        /// Queue for the voicemail contact (None: the number's).
        queue: Option<String>,
    },
    /// Hang up.
    Hangup,
}

/// What the edge must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompts (names: tenant prompts or `sys:…`) in order, replacing what plays;
    /// report [`Ivr::on_playback_done`] when they end.
    Play(Vec<String>),
    /// Stop playing (the caller started typing).
    StopPlayback,
    /// Call [`Ivr::on_timer`] at this time (replaces any earlier timer).
    SetTimer(UnixMillis),
    /// No timer.
    CancelTimer,
    /// A contact attribute was set.
    SetAttribute(String, String),
    /// Ask the tenant's on-ivr plugin (the edge goes through the platform) and report its
    /// answer with [`Ivr::on_plugin_answer`]; a timer covers a late or missing answer.
    AskPlugin {
        /// The plugin step.
        step: String,
        /// Keys pressed in the gather before it.
        digits: String,
    },
    /// The IVR is over.
    Finish(Outcome),
}

/// Most steps one call may run: a guard on top of the flow checks, so a flow can never spin.
const MAX_STEPS_PER_CALL: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum After {
    Next(String),
    Finish(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Playback(After),
    Input { prompt_playing: bool, deadline: Option<UnixMillis> },
    Plugin { deadline: UnixMillis },
    Finished,
}

/// One call's run through a flow.
#[derive(Debug, Clone)]
pub struct Ivr {
    flow: Flow,
    hours: BTreeMap<String, BusinessHours>,
    attributes: BTreeMap<String, String>,
    step: String,
    waiting: Waiting,
    attempts: u8,
    digits: String,
    last_digits: String,
    executed: u32,
}

impl Ivr {
    /// Prepares a run. `hours` are the tenant's schedules by id; `attributes` what is known of
    /// the call already (caller number, dialled number).
    pub fn new(flow: Flow, hours: BTreeMap<String, BusinessHours>, attributes: BTreeMap<String, String>) -> Self {
        let step = flow.start.clone();
        Ivr {
            flow,
            hours,
            attributes,
            step,
            waiting: Waiting::Nothing,
            attempts: 0,
            digits: String::new(),
            last_digits: String::new(),
            executed: 0,
        }
    }

    /// The contact attributes so far.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    /// The step the call is in.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Whether the IVR has finished.
    pub fn is_finished(&self) -> bool {
        self.waiting == Waiting::Finished
    }

    /// Runs the first step.
    pub fn start(&mut self, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        let start = self.flow.start.clone();
        self.run(start, now, &mut out);
        out
    }

    /// The prompts asked for by the last `Play` have ended.
    pub fn on_playback_done(&mut self, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Playback(After::Next(next)) => self.run(next, now, &mut out),
            Waiting::Playback(After::Finish(outcome)) => self.finish(outcome, &mut out),
            Waiting::Input { prompt_playing: true, .. } => {
                let deadline = now + i64::from(self.gather_timeout());
                self.waiting = Waiting::Input { prompt_playing: false, deadline: Some(deadline) };
                out.push(Action::SetTimer(deadline));
            }
            other => self.waiting = other,
        }
        out
    }

    /// The caller pressed a key (RFC 4733 or SIP INFO). Keys outside a gather are ignored.
    pub fn on_digit(&mut self, key: char, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        let Waiting::Input { prompt_playing, .. } = self.waiting else { return out };
        let Some(Step::Gather { max_digits, finish_on, timeout_ms, .. }) = self.flow.steps.get(&self.step) else {
            return out;
        };
        let (max_digits, finish_on, timeout_ms) = (*max_digits, *finish_on, *timeout_ms);
        if prompt_playing {
            out.push(Action::StopPlayback);
        }
        if finish_on == Some(key) {
            self.complete(now, &mut out);
            return out;
        }
        self.digits.push(key);
        if self.digits.len() >= usize::from(max_digits) {
            self.complete(now, &mut out);
        } else {
            let deadline = now + i64::from(timeout_ms);
            self.waiting = Waiting::Input { prompt_playing: false, deadline: Some(deadline) };
            out.push(Action::SetTimer(deadline));
        }
        out
    }

    /// The plugin's answer to [`Action::AskPlugin`]: a branch of the step (None, or one it
    /// does not list: the step's default) and attributes to set. An answer after the step's
    /// time-out is ignored (the default was taken).
    pub fn on_plugin_answer(
        &mut self,
        branch: Option<&str>,
        attributes: Vec<(String, String)>,
        now: UnixMillis,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.waiting, Waiting::Plugin { .. }) {
            return out;
        }
        let Some(Step::Plugin { branches, default, .. }) = self.flow.steps.get(&self.step).cloned() else {
            return out;
        };
        self.waiting = Waiting::Nothing;
        out.push(Action::CancelTimer);
        for (key, value) in attributes {
            // The same rules as a flow's own attributes; anything else is dropped.
            if crate::flow::valid_name(&key) && value.len() <= 200 {
                self.attributes.insert(key.clone(), value.clone());
                out.push(Action::SetAttribute(key, value));
            }
        }
        let next = branch.and_then(|b| branches.get(b)).cloned().unwrap_or(default);
        self.run(next, now, &mut out);
        out
    }

    /// A timer set by [`Action::SetTimer`] is due.
    pub fn on_timer(&mut self, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        if let Waiting::Plugin { deadline } = self.waiting
            && now >= deadline
        {
            self.waiting = Waiting::Nothing;
            if let Some(Step::Plugin { default, .. }) = self.flow.steps.get(&self.step).cloned() {
                self.run(default, now, &mut out);
            }
            return out;
        }
        if let Waiting::Input { deadline: Some(deadline), .. } = self.waiting
            && now >= deadline
        {
            if self.digits.is_empty() {
                self.retry(None, now, &mut out);
            } else {
                self.complete(now, &mut out);
            }
        }
        out
    }

    fn gather_timeout(&self) -> u32 {
        match self.flow.steps.get(&self.step) {
            Some(Step::Gather { timeout_ms, .. }) => *timeout_ms,
            _ => 5000,
        }
    }

    fn finish(&mut self, outcome: Outcome, out: &mut Vec<Action>) {
        self.waiting = Waiting::Finished;
        out.push(Action::CancelTimer);
        out.push(Action::Finish(outcome));
    }

    fn value(&self, text: &str) -> Option<String> {
        match text.strip_prefix('$') {
            Some(name) => self.attributes.get(name).cloned(),
            None => Some(text.to_owned()),
        }
    }

    fn words(&self, prompt: &[Prompt]) -> Vec<String> {
        let mut out = Vec::new();
        for part in prompt {
            match part {
                Prompt::File(name) => out.push(name.clone()),
                Prompt::Digits(d) => {
                    if let Some(d) = self.value(d) {
                        out.extend(d.chars().take(64).filter_map(key_word));
                    }
                }
                Prompt::Number(n) => {
                    if let Some(n) = self.value(n).and_then(|n| n.trim().parse::<i64>().ok()) {
                        out.extend(number_words(n));
                    }
                }
            }
        }
        out
    }

    fn run(&mut self, mut name: String, now: UnixMillis, out: &mut Vec<Action>) {
        loop {
            self.executed += 1;
            if self.executed > MAX_STEPS_PER_CALL {
                self.finish(Outcome::Hangup, out);
                return;
            }
            let Some(step) = self.flow.steps.get(&name).cloned() else {
                // Only a flow that skipped validation can get here; end the call cleanly.
                self.finish(Outcome::Hangup, out);
                return;
            };
            self.step = name;
            match step {
                Step::Play { prompt, next } => {
                    out.push(Action::Play(self.words(&prompt)));
                    self.waiting = Waiting::Playback(After::Next(next));
                    return;
                }
                Step::Gather { .. } => {
                    self.attempts = 0;
                    self.ask(Vec::new(), now, out);
                    return;
                }
                Step::BusinessHours { hours, open, closed } => {
                    // A schedule deleted after the flow was saved counts as open: better a
                    // caller reaches the queue than is told a closed message wrongly.
                    let is_open = self.hours.get(&hours).is_none_or(|h| h.is_open(now));
                    name = if is_open { open } else { closed };
                }
                Step::Set { attributes, next } => {
                    for (key, value) in attributes {
                        let value = self.value(&value).unwrap_or_default();
                        self.attributes.insert(key.clone(), value.clone());
                        out.push(Action::SetAttribute(key, value));
                    }
                    name = next;
                }
                Step::Enqueue { queue, priority } => return self.finish(Outcome::Enqueue { queue, priority }, out),
                Step::Transfer { to } => return self.finish(Outcome::Transfer { to }, out),
                Step::Voicemail { prompt, max_seconds, queue } => {
                    return self.say_then(&prompt, Outcome::Voicemail { max_seconds, queue }, out);
                }
                Step::Hangup { prompt } => return self.say_then(&prompt, Outcome::Hangup, out),
                Step::Plugin { timeout_ms, .. } => {
                    let deadline = now + i64::from(timeout_ms);
                    self.waiting = Waiting::Plugin { deadline };
                    out.push(Action::SetTimer(deadline));
                    out.push(Action::AskPlugin { step: self.step.clone(), digits: self.last_digits.clone() });
                    return;
                }
            }
        }
    }

    fn say_then(&mut self, prompt: &[Prompt], outcome: Outcome, out: &mut Vec<Action>) {
        let words = self.words(prompt);
        if words.is_empty() {
            self.finish(outcome, out);
        } else {
            out.push(Action::Play(words));
            self.waiting = Waiting::Playback(After::Finish(outcome));
        }
    }

    /// Plays the gather's prompt (after `before`, e.g. "that is not an option").
    fn ask(&mut self, before: Vec<String>, now: UnixMillis, out: &mut Vec<Action>) {
        self.digits.clear();
        let Some(Step::Gather { prompt, timeout_ms, .. }) = self.flow.steps.get(&self.step) else { return };
        let mut words = before;
        words.extend(self.words(prompt));
        if words.is_empty() {
            let deadline = now + i64::from(*timeout_ms);
            self.waiting = Waiting::Input { prompt_playing: false, deadline: Some(deadline) };
            out.push(Action::SetTimer(deadline));
        } else {
            self.waiting = Waiting::Input { prompt_playing: true, deadline: None };
            out.push(Action::CancelTimer);
            out.push(Action::Play(words));
        }
    }

    fn complete(&mut self, now: UnixMillis, out: &mut Vec<Action>) {
        let Some(Step::Gather { store_as, branches, default, invalid_prompt, .. }) =
            self.flow.steps.get(&self.step).cloned()
        else {
            return;
        };
        out.push(Action::CancelTimer);
        let digits = std::mem::take(&mut self.digits);
        self.last_digits = digits.clone();
        if let Some(attribute) = store_as {
            self.attributes.insert(attribute.clone(), digits.clone());
            out.push(Action::SetAttribute(attribute, digits.clone()));
        }
        if let Some(target) = branches.get(&digits).or(default.as_ref()) {
            let target = target.clone();
            self.run(target, now, out);
        } else {
            let invalid = self.words(&invalid_prompt);
            self.retry(Some(invalid), now, out);
        }
    }

    fn retry(&mut self, before: Option<Vec<String>>, now: UnixMillis, out: &mut Vec<Action>) {
        let Some(Step::Gather { retries, on_failure, .. }) = self.flow.steps.get(&self.step).cloned() else { return };
        self.attempts += 1;
        if self.attempts > retries {
            match on_failure {
                Some(target) => self.run(target, now, out),
                None => self.finish(Outcome::Hangup, out),
            }
        } else {
            self.ask(before.unwrap_or_default(), now, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ivr(flow: serde_json::Value) -> Ivr {
        let flow = Flow::from_json(&flow).expect("shape");
        assert_eq!(flow.problems(), vec![]);
        Ivr::new(flow, BTreeMap::new(), BTreeMap::from([("caller".to_owned(), "+4930123".to_owned())]))
    }

    fn menu() -> serde_json::Value {
        json!({
            "start": "hello",
            "steps": {
                "hello": {"type": "play", "prompt": [{"file": "sys:welcome"}], "next": "menu"},
                "menu": {"type": "gather", "prompt": [{"file": "menu"}], "timeout_ms": 3000, "retries": 1,
                         "branches": {"1": "sales", "2": "account"}, "invalid_prompt": [{"file": "sys:invalid"}],
                         "on_failure": "vm"},
                "sales": {"type": "enqueue", "queue": "q-sales", "priority": 5},
                "account": {"type": "gather", "prompt": [{"file": "enter-account"}], "max_digits": 6, "finish_on": "#",
                            "store_as": "account", "default": "confirm"},
                "confirm": {"type": "play", "prompt": [{"file": "you-entered"}, {"digits": "$account"}], "next": "support"},
                "support": {"type": "enqueue", "queue": "q-support"},
                "vm": {"type": "voicemail", "prompt": [{"file": "sys:leave-message"}], "max_seconds": 60}
            }
        })
    }

    fn finished(actions: &[Action]) -> Option<&Outcome> {
        actions.iter().find_map(|a| match a {
            Action::Finish(o) => Some(o),
            _ => None,
        })
    }

    #[test]
    fn a_caller_presses_one_and_is_enqueued() {
        let mut ivr = ivr(menu());
        assert_eq!(ivr.start(0), vec![Action::Play(vec!["sys:welcome".into()])]);
        // Keys during a plain prompt are ignored.
        assert_eq!(ivr.on_digit('1', 100), vec![]);
        assert_eq!(ivr.on_playback_done(2000), vec![Action::CancelTimer, Action::Play(vec!["menu".into()])]);
        // Barge-in: typing stops the menu prompt.
        let actions = ivr.on_digit('1', 2500);
        assert_eq!(actions[0], Action::StopPlayback);
        assert_eq!(finished(&actions), Some(&Outcome::Enqueue { queue: "q-sales".into(), priority: 5 }));
        assert!(ivr.is_finished());
        assert_eq!(ivr.on_digit('2', 2600), vec![]);
    }

    #[test]
    fn account_numbers_end_with_pound_and_are_read_back() {
        let mut ivr = ivr(menu());
        ivr.start(0);
        ivr.on_playback_done(10);
        ivr.on_playback_done(20);
        ivr.on_digit('2', 30);
        assert_eq!(ivr.step(), "account");
        ivr.on_playback_done(40);
        for (i, key) in "4711".chars().enumerate() {
            assert_eq!(ivr.on_digit(key, 100 + i as i64), vec![Action::SetTimer(100 + i as i64 + 5000)]);
        }
        let actions = ivr.on_digit('#', 200);
        assert!(actions.contains(&Action::SetAttribute("account".into(), "4711".into())));
        assert!(actions.contains(&Action::Play(vec![
            "you-entered".into(),
            "sys:4".into(),
            "sys:7".into(),
            "sys:1".into(),
            "sys:1".into()
        ])));
        let actions = ivr.on_playback_done(300);
        assert_eq!(finished(&actions), Some(&Outcome::Enqueue { queue: "q-support".into(), priority: 0 }));
        assert_eq!(ivr.attributes().get("account").map(String::as_str), Some("4711"));
    }

    #[test]
    fn silence_and_wrong_keys_use_up_retries_then_fail_over() {
        let mut ivr = ivr(menu());
        ivr.start(0);
        ivr.on_playback_done(0);
        assert_eq!(ivr.on_playback_done(1000), vec![Action::SetTimer(4000)]);
        assert_eq!(ivr.on_timer(3999), vec![], "not yet due");
        // No input: the menu again.
        assert_eq!(ivr.on_timer(4000), vec![Action::CancelTimer, Action::Play(vec!["menu".into()])]);
        ivr.on_playback_done(5000);
        // A wrong key after the one retry: on to voicemail, which says its prompt first.
        let actions = ivr.on_digit('9', 5500);
        assert!(actions.contains(&Action::Play(vec!["sys:leave-message".into()])), "{actions:?}");
        let actions = ivr.on_playback_done(7000);
        assert_eq!(finished(&actions), Some(&Outcome::Voicemail { max_seconds: 60, queue: None }));
    }

    #[test]
    fn a_wrong_key_with_retries_left_says_so_and_asks_again() {
        let mut ivr = ivr(menu());
        ivr.start(0);
        ivr.on_playback_done(0);
        ivr.on_playback_done(10);
        let actions = ivr.on_digit('7', 20);
        assert!(actions.contains(&Action::Play(vec!["sys:invalid".into(), "menu".into()])), "{actions:?}");
    }

    #[test]
    fn business_hours_branch_on_the_schedule_at_that_moment() {
        let hours: BusinessHours = serde_json::from_value(json!({
            "id": "01890000-0000-7000-8000-000000000001", "name": "Office", "timezone": "UTC",
            "weekly": [{"day": "mon", "open": "09:00", "close": "17:00"}]
        }))
        .expect("hours");
        let flow = Flow::from_json(&json!({
            "start": "check",
            "steps": {
                "check": {"type": "business_hours", "hours": "office", "open": "in", "closed": "out"},
                "in": {"type": "enqueue", "queue": "q"},
                "out": {"type": "hangup", "prompt": [{"file": "sys:closed"}]}
            }
        }))
        .expect("shape");
        let hours = BTreeMap::from([("office".to_owned(), hours)]);
        // 2024-01-01 was a Monday.
        let monday_noon = 1_704_110_400_000;
        let monday_night = monday_noon + 10 * 3_600_000;
        let mut open = Ivr::new(flow.clone(), hours.clone(), BTreeMap::new());
        assert_eq!(finished(&open.start(monday_noon)), Some(&Outcome::Enqueue { queue: "q".into(), priority: 0 }));
        let mut closed = Ivr::new(flow, hours, BTreeMap::new());
        assert_eq!(closed.start(monday_night), vec![Action::Play(vec!["sys:closed".into()])]);
        assert_eq!(finished(&closed.on_playback_done(monday_night + 2000)), Some(&Outcome::Hangup));
    }

    #[test]
    fn attributes_are_set_copied_and_read_as_numbers() {
        let mut ivr = ivr(json!({
            "start": "tag",
            "steps": {
                "tag": {"type": "set", "attributes": {"lang": "de", "from": "$caller", "n": "42"}, "next": "say"},
                "say": {"type": "play", "prompt": [{"number": "$n"}, {"digits": "$missing"}], "next": "bye"},
                "bye": {"type": "hangup"}
            }
        }));
        let actions = ivr.start(0);
        assert!(actions.contains(&Action::SetAttribute("from".into(), "+4930123".into())));
        assert!(actions.contains(&Action::Play(vec!["sys:40".into(), "sys:2".into()])));
        assert_eq!(finished(&ivr.on_playback_done(10)), Some(&Outcome::Hangup));
    }

    fn language_menu() -> Ivr {
        ivr(json!({
            "start": "menu",
            "steps": {
                "menu": {"type": "gather", "prompt": [{"file": "menu"}], "max_digits": 4, "finish_on": "#",
                         "default": "ask"},
                "ask": {"type": "plugin", "branches": {"es": "spanish", "vip": "vip"}, "default": "general",
                        "timeout_ms": 1500},
                "spanish": {"type": "enqueue", "queue": "q-es"},
                "vip": {"type": "enqueue", "queue": "q-vip", "priority": 50},
                "general": {"type": "enqueue", "queue": "q"}
            }
        }))
    }

    #[test]
    fn a_plugin_step_asks_with_the_keys_and_takes_the_named_branch() {
        let mut ivr = language_menu();
        ivr.start(0);
        ivr.on_playback_done(10);
        ivr.on_digit('4', 20);
        let actions = ivr.on_digit('#', 30);
        assert!(actions.contains(&Action::SetTimer(1530)), "{actions:?}");
        assert!(actions.contains(&Action::AskPlugin { step: "ask".into(), digits: "4".into() }), "{actions:?}");
        assert_eq!(finished(&actions), None, "waits for the answer");
        let answer = vec![("language".to_owned(), "es".to_owned()), ("bad name!".to_owned(), "x".to_owned())];
        let actions = ivr.on_plugin_answer(Some("es"), answer, 200);
        assert!(actions.contains(&Action::SetAttribute("language".into(), "es".into())));
        assert!(!actions.iter().any(|a| matches!(a, Action::SetAttribute(k, _) if k == "bad name!")));
        assert_eq!(finished(&actions), Some(&Outcome::Enqueue { queue: "q-es".into(), priority: 0 }));
        assert_eq!(ivr.attributes().get("language").map(String::as_str), Some("es"));
    }

    #[test]
    fn no_answer_an_unknown_branch_or_a_late_one_takes_the_default() {
        let general = Outcome::Enqueue { queue: "q".into(), priority: 0 };
        let mut unknown = language_menu();
        unknown.start(0);
        unknown.on_playback_done(10);
        unknown.on_digit('#', 20);
        assert_eq!(finished(&unknown.on_plugin_answer(Some("nope"), Vec::new(), 30)), Some(&general));
        let mut none = language_menu();
        none.start(0);
        none.on_playback_done(10);
        none.on_digit('#', 20);
        assert_eq!(finished(&none.on_plugin_answer(None, Vec::new(), 30)), Some(&general));
        let mut late = language_menu();
        late.start(0);
        late.on_playback_done(10);
        late.on_digit('#', 20);
        assert_eq!(late.on_timer(1000), vec![], "not yet due");
        assert_eq!(finished(&late.on_timer(1520)), Some(&general));
        assert_eq!(late.on_plugin_answer(Some("vip"), Vec::new(), 1600), vec![], "too late: ignored");
    }

    #[test]
    fn plugin_steps_are_checked_on_save() {
        let f = Flow::from_json(&json!({
            "start": "a",
            "steps": {
                "a": {"type": "plugin", "branches": {"x y": "b", "ok": "missing"}, "default": "a", "timeout_ms": 50},
                "b": {"type": "hangup"}
            }
        }))
        .expect("shape");
        let fields: Vec<String> = f.problems().into_iter().map(|p| p.field).collect();
        assert!(fields.contains(&"steps.a.timeout_ms".to_owned()), "{fields:?}");
        assert!(fields.contains(&"steps.a.branches.x y".to_owned()), "{fields:?}");
        assert!(fields.contains(&"steps.a.branches.ok".to_owned()), "{fields:?}");
        // a → a through the default waits for nothing the caller does: a silent loop.
        assert!(fields.contains(&"steps.a".to_owned()), "{fields:?}");
    }

    mod random {
        use proptest::prelude::*;

        use super::*;

        fn step(n: usize) -> impl Strategy<Value = serde_json::Value> {
            let target = (0..n).prop_map(|i| json!(format!("s{i}")));
            prop_oneof![
                target.clone().prop_map(|t| json!({"type": "play", "prompt": [{"file": "p"}], "next": t})),
                (target.clone(), target.clone(), 1u8..4, proptest::option::of(target.clone())).prop_map(
                    |(a, b, max, failure)| json!({
                        "type": "gather", "prompt": [{"file": "m"}], "max_digits": max, "retries": 1,
                        "branches": {"1": a, "2": b}, "on_failure": failure
                    })
                ),
                (target.clone(), target.clone())
                    .prop_map(|(o, c)| json!({"type": "business_hours", "hours": "h", "open": o, "closed": c})),
                target.clone().prop_map(|t| json!({"type": "set", "attributes": {"a": "$caller"}, "next": t})),
                (target.clone(), target.clone())
                    .prop_map(|(a, d)| json!({"type": "plugin", "branches": {"a": a}, "default": d})),
                Just(json!({"type": "enqueue", "queue": "q"})),
                Just(json!({"type": "hangup"})),
            ]
        }

        #[derive(Debug, Clone)]
        enum Event {
            Digit(char),
            PlaybackDone,
            Timer,
            Answer(Option<&'static str>),
        }

        fn event() -> impl Strategy<Value = Event> {
            prop_oneof![
                prop::sample::select(vec!['1', '2', '3', '#', '*']).prop_map(Event::Digit),
                Just(Event::PlaybackDone),
                Just(Event::Timer),
                prop::sample::select(vec![None, Some("a"), Some("zz")]).prop_map(Event::Answer),
            ]
        }

        proptest! {
            #[test]
            fn valid_flows_never_panic_or_spin(
                steps in (1usize..7).prop_flat_map(|n| proptest::collection::vec(step(n), n)),
                events in proptest::collection::vec(event(), 0..60),
            ) {
                let steps: serde_json::Map<String, serde_json::Value> =
                    steps.into_iter().enumerate().map(|(i, s)| (format!("s{i}"), s)).collect();
                let flow = Flow::from_json(&json!({"start": "s0", "steps": steps})).expect("shape");
                prop_assume!(flow.problems().is_empty());
                let mut ivr = Ivr::new(flow, BTreeMap::new(), BTreeMap::new());
                let mut now = 0;
                let mut actions = ivr.start(now);
                for event in events {
                    prop_assert!(actions.len() < 64, "one input gave {} actions", actions.len());
                    now += 6000;
                    actions = match event {
                        Event::Digit(key) => ivr.on_digit(key, now),
                        Event::PlaybackDone => ivr.on_playback_done(now),
                        Event::Timer => ivr.on_timer(now),
                        Event::Answer(branch) => ivr.on_plugin_answer(branch, Vec::new(), now),
                    };
                    if ivr.is_finished() {
                        prop_assert!(ivr.on_digit('1', now).is_empty());
                    }
                }
            }
        }
    }
}
