//! Carrier keywords every long-code/short-code program must honour (CTIA): opt-out, opt-in, help.

/// What a keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop all messages to this number.
    OptOut,
    /// Resume messages.
    OptIn,
    /// Send program information.
    Help,
}

/// The keyword a message consists of, if it is one (the whole message, any case, surrounding
/// whitespace and a trailing full stop or exclamation mark ignored).
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body.trim().trim_end_matches(['.', '!']).to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE" => Some(Keyword::OptOut),
        "START" | "YES" | "UNSTOP" | "OPTIN" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_messages_in_any_case() {
        assert_eq!(keyword("stop"), Some(Keyword::OptOut));
        assert_eq!(keyword("  Unsubscribe. "), Some(Keyword::OptOut));
        assert_eq!(keyword("START"), Some(Keyword::OptIn));
        assert_eq!(keyword("help!"), Some(Keyword::Help));
    }

    #[test]
    fn sentences_containing_keywords_are_ordinary_messages() {
        assert_eq!(keyword("please stop calling me"), None);
        assert_eq!(keyword("STOP IT"), None);
        assert_eq!(keyword(""), None);
    }
}
