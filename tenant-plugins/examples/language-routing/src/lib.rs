//! Language routing: finds the customer's language and routes to agents who speak it.
//!
//! - on-ivr (a flow's `plugin` step): keys 1-4 choose English, Spanish, French or German; without
//!   keys the caller's country code decides (+34 Spanish, +33 French, +49/+43 German). The branch
//!   taken is the language code (`en`, `es`, `fr`, `de`) and `ivr_language` is set.
//! - on-contact: the IVR's choice, else the first message's words; a contact in Spanish,
//!   French or German needs the skill `spanish`, `french` or `german` (create those skills and
//!   give them to agents) and gets `language=<code>`.
//! - on-message (chat and SMS): a conversation's first message in another language is answered
//!   in that language, tagged, and moved to the queue `support-<code>` (create it, e.g.
//!   `support-es`; without it the answer is refused as bad output and nothing changes).

use switchboard_plugin_sdk::*;

struct Language;

/// (code, skill, keywords, first answer)
const LANGUAGES: &[(&str, &str, &[&str], &str)] = &[
    (
        "es",
        "spanish",
        &["hola", "gracias", "necesito", "ayuda", "por favor", "buenos", "pedido", "quiero"],
        "¡Hola! Un agente que habla español le atenderá enseguida.",
    ),
    (
        "fr",
        "french",
        &["bonjour", "merci", "besoin", "aide", "s'il vous", "commande", "je voudrais"],
        "Bonjour ! Un conseiller francophone va vous répondre dans un instant.",
    ),
    (
        "de",
        "german",
        &["hallo", "danke", "bitte", "hilfe", "brauche", "bestellung", "guten tag"],
        "Hallo! Eine Kollegin oder ein Kollege, der Deutsch spricht, meldet sich gleich.",
    ),
];

impl Plugin for Language {
    fn describe() -> Manifest {
        Manifest::hooks(&[Hook::OnContact, Hook::OnIvr, Hook::OnMessage])
    }

    fn on_ivr(state: IvrState) -> IvrDecision {
        let by_key = match state.digits.as_str() {
            "1" => Some("en"),
            "2" => Some("es"),
            "3" => Some("fr"),
            "4" => Some("de"),
            _ => None,
        };
        let code = by_key.or_else(|| state.contact.customer.as_deref().and_then(by_country)).unwrap_or("en");
        log::info(&format!("IVR language {code}"));
        IvrDecision { branch: Some(code.into()), attributes: vec![attr("ivr_language", code)] }
    }

    fn on_contact(contact: Contact) -> ContactDecision {
        let code = contact
            .attribute("ivr_language")
            .map(str::to_owned)
            .or_else(|| contact.text.as_deref().and_then(detect).map(|(code, ..)| code.to_owned()));
        let Some(code) = code else { return ContactDecision::default() };
        let skills = LANGUAGES.iter().filter(|l| l.0 == code).map(|l| l.1.to_owned()).collect();
        ContactDecision::Route(Route { skills, attributes: vec![attr("language", &code)], ..Route::default() })
    }

    fn on_message(message: InboundMessage) -> MessageDecision {
        let none = MessageDecision { reply: None, attributes: Vec::new(), queue: None };
        // The conversation's first message decides; later ones are the agent's business.
        if message.count > 1 {
            return none;
        }
        let Some((code, _, greeting)) = detect(&message.text) else { return none };
        log::info(&format!("message in {code}"));
        MessageDecision {
            reply: Some(greeting.to_owned()),
            attributes: vec![attr("language", code)],
            queue: Some(format!("support-{code}")),
        }
    }
}

/// The language a text is in, if one of ours: the one with most keywords, at least one.
fn detect(text: &str) -> Option<(&'static str, &'static str, &'static str)> {
    let lower = text.to_lowercase();
    LANGUAGES
        .iter()
        .map(|(code, skill, words, greeting)| {
            let hits = words.iter().filter(|w| lower.contains(*w)).count();
            (hits, (*code, *skill, *greeting))
        })
        .filter(|(hits, _)| *hits > 0)
        .max_by_key(|(hits, _)| *hits)
        .map(|(_, found)| found)
}

/// A language from a caller's country code.
fn by_country(number: &str) -> Option<&'static str> {
    [("+34", "es"), ("+33", "fr"), ("+49", "de"), ("+43", "de")]
        .iter()
        .find(|(prefix, _)| number.starts_with(prefix))
        .map(|(_, code)| *code)
}

plugin!(Language);
