//! AMQP topic-exchange matching, so the in-process bus routes exactly like RabbitMQ.

/// A topic or pattern that RabbitMQ would refuse or misroute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty, too long (AMQP caps routing keys at 255 bytes), or an empty word.
    #[error("malformed topic {0:?}: dot-separated non-empty words, at most 255 bytes")]
    Malformed(String),
    /// A wildcard in a topic (wildcards belong in patterns only).
    #[error("topic {0:?} contains a wildcard")]
    Wildcard(String),
}

fn well_formed(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.split('.').all(|w| !w.is_empty())
}

/// Checks a topic used for publishing.
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    if !well_formed(topic) {
        return Err(TopicError::Malformed(topic.chars().take(64).collect()));
    }
    if topic.split('.').any(|w| w == "*" || w == "#") {
        return Err(TopicError::Wildcard(topic.chars().take(64).collect()));
    }
    Ok(())
}

/// Checks a binding pattern.
pub fn validate_pattern(pattern: &str) -> Result<(), TopicError> {
    if well_formed(pattern) { Ok(()) } else { Err(TopicError::Malformed(pattern.chars().take(64).collect())) }
}

/// Whether `topic` matches `pattern` under AMQP topic rules.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let t: Vec<&str> = topic.split('.').collect();
    matches_from(&p, &t)
}

fn matches_from(p: &[&str], t: &[&str]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((&"#", rest)) => (0..=t.len()).any(|skip| matches_from(rest, &t[skip..])),
        Some((&"*", rest)) => !t.is_empty() && matches_from(rest, &t[1..]),
        Some((word, rest)) => t.first() == Some(word) && matches_from(rest, &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_exactly_one_word() {
        assert!(topic_matches("tenant.*.contact", "tenant.a.contact"));
        assert!(!topic_matches("tenant.*.contact", "tenant.contact"));
        assert!(!topic_matches("tenant.*.contact", "tenant.a.b.contact"));
    }

    #[test]
    fn hash_matches_zero_or_more_words() {
        assert!(topic_matches("tenant.#", "tenant"));
        assert!(topic_matches("tenant.#", "tenant.a.b.c"));
        assert!(topic_matches("#.queued", "tenant.a.contact.queued"));
        assert!(topic_matches("#", "anything.at.all"));
        assert!(!topic_matches("tenant.#.queued", "tenant.a.offered"));
    }

    #[test]
    fn literal_words_must_be_equal() {
        assert!(topic_matches("a.b", "a.b"));
        assert!(!topic_matches("a.b", "a.c"));
        assert!(!topic_matches("a.b", "a.b.c"));
    }

    #[test]
    fn malformed_topics_are_refused() {
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a..b").is_err());
        assert!(validate_topic("a.*").is_err());
        assert!(validate_topic(&"x".repeat(256)).is_err());
        assert!(validate_topic("tenant.a.contact.queued").is_ok());
        assert!(validate_pattern("tenant.*.#").is_ok());
    }
}
