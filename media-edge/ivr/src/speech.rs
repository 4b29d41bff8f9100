//! System prompts (shipped with the edge, recorded in English) and numbers read as words.

/// The system prompts a flow may name as `sys:<name>`: digits and number words first, then the
/// phrases the edge itself says (queue position, estimated wait, voicemail).
pub const SYSTEM_PROMPTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "30",
    "40",
    "50",
    "60",
    "70",
    "80",
    "90",
    "hundred",
    "thousand",
    "million",
    "minus",
    "star",
    "pound",
    "welcome",
    "goodbye",
    "invalid",
    "please-hold",
    "position",
    "in-queue",
    "wait",
    "minute",
    "minutes",
    "less-than-a-minute",
    "leave-message",
    "closed",
    "busy",
    "transferring",
    "thanks",
    "voicemail-saved",
];

/// A number as system prompt names: 123 → `sys:1 sys:hundred sys:20 sys:3`. A billion and
/// more is read digit by digit (we have no "billion" prompt, and nobody says such numbers to
/// callers).
pub fn number_words(n: i64) -> Vec<String> {
    let mut out = Vec::new();
    if n < 0 {
        out.push("sys:minus".to_owned());
    }
    let n = n.unsigned_abs();
    if n == 0 {
        out.push("sys:0".to_owned());
    } else if n >= 1_000_000_000 {
        out.extend(n.to_string().chars().filter_map(key_word));
    } else {
        for (scale, word) in [(1_000_000, Some("million")), (1_000, Some("thousand")), (1, None)] {
            let group = (n / scale) % 1000;
            if group == 0 {
                continue;
            }
            below_thousand(group, &mut out);
            if let Some(word) = word {
                out.push(format!("sys:{word}"));
            }
        }
    }
    out
}

fn below_thousand(n: u64, out: &mut Vec<String>) {
    if n >= 100 {
        out.push(format!("sys:{}", n / 100));
        out.push("sys:hundred".to_owned());
    }
    let rest = n % 100;
    if rest == 0 {
        return;
    }
    if rest < 20 {
        out.push(format!("sys:{rest}"));
    } else {
        out.push(format!("sys:{}", rest / 10 * 10));
        if !rest.is_multiple_of(10) {
            out.push(format!("sys:{}", rest % 10));
        }
    }
}

/// A key as a system prompt name.
pub(crate) fn key_word(key: char) -> Option<String> {
    match key {
        '0'..='9' => Some(format!("sys:{key}")),
        '*' => Some("sys:star".to_owned()),
        '#' => Some("sys:pound".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(n: i64) -> String {
        number_words(n).iter().map(|w| w.trim_start_matches("sys:")).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn numbers_read_like_a_person_says_them() {
        assert_eq!(say(0), "0");
        assert_eq!(say(7), "7");
        assert_eq!(say(15), "15");
        assert_eq!(say(40), "40");
        assert_eq!(say(42), "40 2");
        assert_eq!(say(100), "1 hundred");
        assert_eq!(say(123), "1 hundred 20 3");
        assert_eq!(say(2005), "2 thousand 5");
        assert_eq!(say(-3_000_017), "minus 3 million 17");
        assert_eq!(say(1_234_567_890), "1 2 3 4 5 6 7 8 9 0");
        for n in [0, 1, 19, 99, 512, 999_999_999] {
            for word in number_words(n) {
                assert!(SYSTEM_PROMPTS.contains(&word.trim_start_matches("sys:")), "{word}");
            }
        }
    }
}
