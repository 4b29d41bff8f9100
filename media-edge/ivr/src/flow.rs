//! The flow model and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_domain::PhoneNumber;

/// Most steps a flow may have.
pub const MAX_STEPS: usize = 200;

/// One part of what is said to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// A recorded prompt: the tenant's uploaded WAV by name, or a system prompt (`sys:goodbye`).
    File(String),
    /// Digits read one by one ("1 2 3"); `$name` reads a contact attribute.
    Digits(String),
    /// A number read as words ("one hundred twenty three"); `$name` reads an attribute.
    Number(String),
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Say something, then go on.
    Play {
        /// What to say.
        prompt: Vec<Prompt>,
        /// The step after.
        next: String,
    },
    /// Say something and collect keys (callers may type while it plays).
    Gather {
        /// What to say (the menu).
        prompt: Vec<Prompt>,
        /// Stop after this many keys.
        #[serde(default = "one")]
        max_digits: u8,
        /// A key that ends input early (`#`).
        #[serde(default)]
        finish_on: Option<char>,
        /// Wait after the prompt and between keys, milliseconds.
        #[serde(default = "five_seconds")]
        timeout_ms: u32,
        /// How often the prompt is repeated on no or wrong input.
        #[serde(default = "two")]
        retries: u8,
        /// Keep the keys as this contact attribute.
        #[serde(default)]
        store_as: Option<String>,
        /// Keys → step.
        #[serde(default)]
        branches: BTreeMap<String, String>,
        /// Any other input goes here (without it, other input is wrong and retried).
        #[serde(default)]
        default: Option<String>,
        /// Said before a retry after wrong input.
        #[serde(default)]
        invalid_prompt: Vec<Prompt>,
        /// Where to go when the retries are used up (without it: hang up).
        #[serde(default)]
        on_failure: Option<String>,
    },
    /// Branch on a business-hours schedule.
    BusinessHours {
        /// The schedule's id.
        hours: String,
        /// When open.
        open: String,
        /// When closed.
        closed: String,
    },
    /// Set contact attributes (values may be `$name` copies).
    Set {
        /// Name → value.
        attributes: BTreeMap<String, String>,
        /// The step after.
        next: String,
    },
    /// Put the caller in a queue; the IVR ends.
    Enqueue {
        /// The queue's id.
        queue: String,
        /// Priority (higher is served sooner).
        #[serde(default)]
        priority: i32,
    },
    /// Send the call to a number; the IVR ends.
    Transfer {
        /// E.164 number.
        to: String,
    },
    /// Record a message that becomes a contact; the IVR ends.
    Voicemail {
        /// Said before the tone.
        #[serde(default)]
        prompt: Vec<Prompt>,
        /// Longest message, seconds.
        #[serde(default = "two_minutes")]
        max_seconds: u32,
        /// The queue the voicemail contact goes to (default: the number's queue).
        #[serde(default)]
        queue: Option<String>,
    },
    /// Ask the tenant's on-ivr plugin which branch to take (its answer may also set
    /// attributes). No plugin, a failed one, a late answer or a branch not listed: `default`.
    Plugin {
        /// Branch name → step.
        #[serde(default)]
        branches: BTreeMap<String, String>,
        /// Where to go without a usable answer.
        default: String,
        /// Longest wait for the answer, milliseconds (the caller hears silence meanwhile).
        #[serde(default = "two_seconds")]
        timeout_ms: u32,
    },
    /// Say goodbye (optionally) and hang up.
    Hangup {
        /// Said first.
        #[serde(default)]
        prompt: Vec<Prompt>,
    },
}

fn one() -> u8 {
    1
}
fn two() -> u8 {
    2
}
fn five_seconds() -> u32 {
    5000
}
fn two_minutes() -> u32 {
    120
}
fn two_seconds() -> u32 {
    2000
}

/// A tenant's IVR flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// The first step.
    pub start: String,
    /// Steps by name.
    pub steps: BTreeMap<String, Step>,
}

/// One thing wrong with a flow, naming where (a JSON path such as `steps.menu.branches.1`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct FlowProblem {
    /// Where.
    pub field: String,
    /// What.
    pub message: String,
}

/// Something a flow names that lives outside it; the platform checks these exist.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    /// A queue id, and the field naming it.
    Queue(String, String),
    /// A business-hours id, and the field.
    Hours(String, String),
    /// A tenant prompt (not `sys:`), and the field.
    PromptFile(String, String),
}

/// What is wrong with one prompt part, if anything.
fn prompt_problem(part: &Prompt) -> Option<&'static str> {
    match part {
        Prompt::File(f) => {
            let name = f.strip_prefix("sys:").unwrap_or(f);
            if !valid_name(name) {
                Some("prompt names are 1-40 letters, digits, '_' or '-'")
            } else if f.starts_with("sys:") && !crate::SYSTEM_PROMPTS.contains(&name) {
                Some("no such system prompt")
            } else {
                None
            }
        }
        Prompt::Digits(d) => {
            let ok = valid_attribute_ref(d)
                || (!d.is_empty() && d.len() <= 32 && d.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#'));
            (!ok).then_some("digits are 0-9, * and # (up to 32), or $attribute")
        }
        Prompt::Number(n) => {
            let ok = valid_attribute_ref(n) || n.parse::<i64>().is_ok_and(|n| n.abs() < 1_000_000_000);
            (!ok).then_some("a whole number below a billion, or $attribute")
        }
    }
}

/// Depth-first search marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    OnPath,
    Done,
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_attribute_ref(value: &str) -> bool {
    value.strip_prefix('$').is_some_and(valid_name)
}

impl Flow {
    /// Reads a flow from JSON; a shape error names the field serde stopped at.
    pub fn from_json(value: &serde_json::Value) -> Result<Flow, FlowProblem> {
        serde_json::from_value(value.clone()).map_err(|e| FlowProblem { field: "flow".into(), message: e.to_string() })
    }

    /// Every problem with the flow (empty when it can be saved).
    pub fn problems(&self) -> Vec<FlowProblem> {
        let mut out = Vec::new();
        let problem = &mut |field: String, message: &str| out.push(FlowProblem { field, message: message.to_owned() });
        if self.steps.is_empty() {
            problem("steps".into(), "a flow needs at least one step");
        }
        if self.steps.len() > MAX_STEPS {
            problem("steps".into(), &format!("at most {MAX_STEPS} steps"));
        }
        if !self.steps.contains_key(&self.start) {
            problem("start".into(), "names no step");
        }
        for (name, step) in &self.steps {
            let at = |field: &str| format!("steps.{name}.{field}");
            if !valid_name(name) {
                problem(format!("steps.{name}"), "step names are 1-40 letters, digits, '_' or '-'");
            }
            for (field, target) in self.targets(step) {
                if !self.steps.contains_key(target) {
                    problem(at(&field), &format!("names no step ({target:?})"));
                }
            }
            let prompts = |problem: &mut dyn FnMut(String, &str), field: &str, parts: &[Prompt]| {
                for (i, part) in parts.iter().enumerate() {
                    let field = format!("{}[{i}]", at(field));
                    if let Some(message) = prompt_problem(part) {
                        problem(field, message);
                    }
                }
            };
            match step {
                Step::Play { prompt, .. } => {
                    if prompt.is_empty() {
                        problem(at("prompt"), "say at least one thing");
                    }
                    prompts(problem, "prompt", prompt);
                }
                Step::Gather {
                    prompt,
                    max_digits,
                    finish_on,
                    timeout_ms,
                    retries,
                    store_as,
                    branches,
                    invalid_prompt,
                    ..
                } => {
                    prompts(problem, "prompt", prompt);
                    prompts(problem, "invalid_prompt", invalid_prompt);
                    if !(1..=32).contains(max_digits) {
                        problem(at("max_digits"), "between 1 and 32");
                    }
                    if finish_on.is_some_and(|c| c != '#' && c != '*') {
                        problem(at("finish_on"), "must be # or *");
                    }
                    if !(1000..=60_000).contains(timeout_ms) {
                        problem(at("timeout_ms"), "between 1000 and 60000");
                    }
                    if *retries > 5 {
                        problem(at("retries"), "at most 5");
                    }
                    if store_as.as_deref().is_some_and(|s| !valid_name(s)) {
                        problem(at("store_as"), "attribute names are 1-40 letters, digits, '_' or '-'");
                    }
                    for keys in branches.keys() {
                        let ok = !keys.is_empty()
                            && keys.len() <= usize::from(*max_digits)
                            && keys.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                            && finish_on.is_none_or(|f| !keys.contains(f));
                        if !ok {
                            problem(
                                at(&format!("branches.{keys}")),
                                "keys must be 0-9, * or # and no longer than max_digits",
                            );
                        }
                    }
                }
                Step::BusinessHours { hours, .. } => {
                    if hours.is_empty() {
                        problem(at("hours"), "names no schedule");
                    }
                }
                Step::Set { attributes, .. } => {
                    if attributes.is_empty() {
                        problem(at("attributes"), "set at least one attribute");
                    }
                    for (k, v) in attributes {
                        if !valid_name(k) {
                            problem(
                                at(&format!("attributes.{k}")),
                                "attribute names are 1-40 letters, digits, '_' or '-'",
                            );
                        }
                        if v.len() > 200 {
                            problem(at(&format!("attributes.{k}")), "values are at most 200 characters");
                        }
                    }
                }
                Step::Enqueue { queue, priority } => {
                    if queue.is_empty() {
                        problem(at("queue"), "names no queue");
                    }
                    if !(-100..=100).contains(priority) {
                        problem(at("priority"), "between -100 and 100");
                    }
                }
                Step::Transfer { to } => {
                    if to.parse::<PhoneNumber>().is_err() {
                        problem(at("to"), "must be an E.164 number such as +4930123456");
                    }
                }
                Step::Voicemail { prompt, max_seconds, .. } => {
                    prompts(problem, "prompt", prompt);
                    if !(5..=600).contains(max_seconds) {
                        problem(at("max_seconds"), "between 5 and 600");
                    }
                }
                Step::Hangup { prompt } => prompts(problem, "prompt", prompt),
                Step::Plugin { branches, timeout_ms, .. } => {
                    if !(100..=5000).contains(timeout_ms) {
                        problem(at("timeout_ms"), "between 100 and 5000");
                    }
                    if branches.len() > 20 {
                        problem(at("branches"), "at most 20 branches");
                    }
                    for name in branches.keys() {
                        if !valid_name(name) {
                            problem(
                                at(&format!("branches.{name}")),
                                "branch names are 1-40 letters, digits, '_' or '-'",
                            );
                        }
                    }
                }
            }
        }
        if let Some(cycle) = self.silent_cycle() {
            out.push(FlowProblem {
                field: format!("steps.{}", cycle[0]),
                message: format!("loops forever without waiting for the caller: {}", cycle.join(" → ")),
            });
        }
        out
    }

    /// The steps a step can go to, with the field that names each.
    fn targets<'a>(&self, step: &'a Step) -> Vec<(String, &'a String)> {
        match step {
            Step::Play { next, .. } | Step::Set { next, .. } => vec![("next".into(), next)],
            Step::Gather { branches, default, on_failure, .. } => branches
                .iter()
                .map(|(k, v)| (format!("branches.{k}"), v))
                .chain(default.iter().map(|d| ("default".into(), d)))
                .chain(on_failure.iter().map(|d| ("on_failure".into(), d)))
                .collect(),
            Step::BusinessHours { open, closed, .. } => vec![("open".into(), open), ("closed".into(), closed)],
            Step::Plugin { branches, default, .. } => branches
                .iter()
                .map(|(k, v)| (format!("branches.{k}"), v))
                .chain(std::iter::once(("default".into(), default)))
                .collect(),
            Step::Enqueue { .. } | Step::Transfer { .. } | Step::Voicemail { .. } | Step::Hangup { .. } => vec![],
        }
    }

    /// A cycle of steps that wait for nothing the caller does (set, business hours, plugin): run,
    /// it would spin forever. Plays and gathers wait for audio or the caller, so loops through them
    /// are menus, not bugs.
    fn silent_cycle(&self) -> Option<Vec<String>> {
        if self.steps.len() > MAX_STEPS {
            return None;
        }
        let mut colour: BTreeMap<&str, Colour> = BTreeMap::new();
        let mut path = Vec::new();
        self.steps.keys().find_map(|start| self.visit(start, &mut colour, &mut path))
    }

    /// Depth-first search over silent steps; depth is bounded by [`MAX_STEPS`].
    fn visit<'a>(
        &'a self,
        name: &'a str,
        colour: &mut BTreeMap<&'a str, Colour>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        let step = self.steps.get(name)?;
        if !matches!(step, Step::Set { .. } | Step::BusinessHours { .. } | Step::Plugin { .. }) {
            return None;
        }
        match colour.get(name) {
            Some(Colour::Done) => return None,
            Some(Colour::OnPath) => {
                let from = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        colour.insert(name, Colour::OnPath);
        path.push(name);
        for (_, next) in self.targets(step) {
            if let Some(cycle) = self.visit(next, colour, path) {
                return Some(cycle);
            }
        }
        path.pop();
        colour.insert(name, Colour::Done);
        None
    }

    /// What the flow names outside itself.
    pub fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        for (name, step) in &self.steps {
            let field = |f: &str| format!("steps.{name}.{f}");
            let mut files = |f: &str, parts: &[Prompt]| {
                for (i, p) in parts.iter().enumerate() {
                    if let Prompt::File(file) = p
                        && !file.starts_with("sys:")
                    {
                        out.push(Reference::PromptFile(file.clone(), format!("{}[{i}]", field(f))));
                    }
                }
            };
            match step {
                Step::Play { prompt, .. } | Step::Hangup { prompt } => files("prompt", prompt),
                Step::Gather { prompt, invalid_prompt, .. } => {
                    files("prompt", prompt);
                    files("invalid_prompt", invalid_prompt);
                }
                Step::Voicemail { prompt, queue, .. } => {
                    files("prompt", prompt);
                    if let Some(q) = queue {
                        out.push(Reference::Queue(q.clone(), field("queue")));
                    }
                }
                Step::Enqueue { queue, .. } => out.push(Reference::Queue(queue.clone(), field("queue"))),
                Step::BusinessHours { hours, .. } => out.push(Reference::Hours(hours.clone(), field("hours"))),
                Step::Set { .. } | Step::Transfer { .. } | Step::Plugin { .. } => {}
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flow(value: serde_json::Value) -> Flow {
        Flow::from_json(&value).expect("shape")
    }

    #[test]
    fn a_sound_flow_has_no_problems_and_lists_its_references() {
        let f = flow(json!({
            "start": "hours",
            "steps": {
                "hours": {"type": "business_hours", "hours": "h1", "open": "menu", "closed": "vm"},
                "menu": {"type": "gather", "prompt": [{"file": "menu"}], "branches": {"1": "sales", "2": "bye"}, "on_failure": "sales"},
                "sales": {"type": "enqueue", "queue": "q1"},
                "vm": {"type": "voicemail", "prompt": [{"file": "sys:leave-message"}]},
                "bye": {"type": "hangup", "prompt": [{"file": "sys:goodbye"}]}
            }
        }));
        assert_eq!(f.problems(), vec![]);
        assert_eq!(
            f.references(),
            vec![
                Reference::Queue("q1".into(), "steps.sales.queue".into()),
                Reference::Hours("h1".into(), "steps.hours.hours".into()),
                Reference::PromptFile("menu".into(), "steps.menu.prompt[0]".into()),
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_field() {
        let f = flow(json!({
            "start": "nowhere",
            "steps": {
                "menu": {"type": "gather", "prompt": [{"digits": "12a"}], "max_digits": 0, "timeout_ms": 10,
                         "retries": 9, "finish_on": "5", "branches": {"9": "missing", "x": "menu"}},
                "call": {"type": "transfer", "to": "0301234"},
                "vm": {"type": "voicemail", "max_seconds": 3600},
                "say": {"type": "play", "prompt": [{"number": "lots"}, {"file": "sys:nope"}], "next": "menu"}
            }
        }));
        let fields: Vec<String> = f.problems().into_iter().map(|p| p.field).collect();
        for expected in [
            "start",
            "steps.menu.prompt[0]",
            "steps.menu.max_digits",
            "steps.menu.finish_on",
            "steps.menu.timeout_ms",
            "steps.menu.retries",
            "steps.menu.branches.9",
            "steps.menu.branches.x",
            "steps.call.to",
            "steps.vm.max_seconds",
            "steps.say.prompt[0]",
            "steps.say.prompt[1]",
        ] {
            assert!(fields.iter().any(|f| f == expected), "{expected} missing from {fields:?}");
        }
    }

    #[test]
    fn loops_that_never_wait_are_refused_but_menus_may_loop() {
        let spinning = flow(json!({
            "start": "a",
            "steps": {
                "a": {"type": "set", "attributes": {"x": "1"}, "next": "b"},
                "b": {"type": "business_hours", "hours": "h", "open": "a", "closed": "c"},
                "c": {"type": "hangup"}
            }
        }));
        let problems = spinning.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("loops forever"), "{}", problems[0].message);

        let menu = flow(json!({
            "start": "menu",
            "steps": {
                "menu": {"type": "gather", "prompt": [{"file": "m"}], "branches": {"9": "again"}},
                "again": {"type": "set", "attributes": {"x": "1"}, "next": "menu"}
            }
        }));
        assert_eq!(menu.problems(), vec![]);
    }

    #[test]
    fn unknown_step_types_and_fields_are_shape_errors() {
        assert!(Flow::from_json(&json!({"start": "a", "steps": {"a": {"type": "dance"}}})).is_err());
        assert!(Flow::from_json(&json!({"start": "a", "steps": {"a": {"type": "hangup", "colour": 1}}})).is_err());
        assert!(Flow::from_json(&json!({"steps": {}})).is_err());
    }
}
