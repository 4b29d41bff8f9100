//! RFC 4475 torture messages, byte-exact (`tests/rfc4475/*.dat`, see `tests/rfc4475/README.md`),
//! through the path every datagram takes into the edge: [`Raw::lex`], then for requests
//! [`request`] (our checks, then rsip). Each message must end as the RFC says it should for a
//! user agent server: accepted, answered with the status the RFC names, or refused as malformed.
//! None may panic.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchboard_sip::message::{MessageError, Raw, StartLine, request};

/// What the edge does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A request that passed every check (it goes to its transaction), with its method.
    Request(String),
    /// A response (it goes to transaction matching; unmatched ones are absorbed).
    Response(u16),
    /// A request answered with this status and no further processing.
    Answered(u16),
    /// Not answerable: dropped.
    Dropped,
}

fn outcome(bytes: &[u8]) -> Outcome {
    explained(bytes).0
}

/// The outcome, and why (for failure messages).
fn explained(bytes: &[u8]) -> (Outcome, String) {
    let raw = match Raw::lex(bytes) {
        Ok(raw) => raw,
        Err(e) => return (Outcome::Dropped, e.to_string()),
    };
    if let StartLine::Response { code } = raw.start {
        return match raw.check_response() {
            Ok(()) => (Outcome::Response(code), String::new()),
            Err(e) => (Outcome::Dropped, e.to_string()),
        };
    }
    match request(raw, bytes) {
        Ok(inbound) => (Outcome::Request(inbound.raw.method().unwrap_or_default().to_owned()), String::new()),
        Err((e, Some(_))) => (Outcome::Answered(e.status()), e.to_string()),
        Err((e, None)) => (Outcome::Dropped, e.to_string()),
    }
}

/// What the RFC allows for one message.
struct Case {
    file: &'static str,
    section: &'static str,
    title: &'static str,
    allowed: &'static [Allowed],
}

#[derive(Debug)]
enum Allowed {
    /// Accepted as a request of this method.
    Request(&'static str),
    /// Accepted as a response with this code.
    Response(u16),
    /// Answered with this status.
    Answered(u16),
    /// Refused as malformed: 400 if it can be answered, else dropped.
    Malformed,
}

impl Allowed {
    fn admits(&self, o: &Outcome) -> bool {
        match (self, o) {
            (Allowed::Request(m), Outcome::Request(got)) => got == m,
            (Allowed::Response(c), Outcome::Response(got)) => got == c,
            (Allowed::Answered(c), Outcome::Answered(got)) => got == c,
            (Allowed::Malformed, Outcome::Answered(400) | Outcome::Dropped) => true,
            _ => false,
        }
    }
}

use Allowed::*;

const CASES: &[Case] = &[
    // §3.1.1: valid messages; a parser must accept them.
    Case { file: "TC_WSINV.dat", section: "3.1.1.1", title: "A Short Tortuous INVITE", allowed: &[Request("INVITE")] },
    // A method nobody implements: a UAS answers 501 (Not Implemented), not 400.
    Case {
        file: "TC_INTMETH.dat",
        section: "3.1.1.2",
        title: "Wide Range of Valid Characters",
        allowed: &[Answered(501)],
    },
    Case {
        file: "TC_ESC01_V.dat",
        section: "3.1.1.3",
        title: "Valid Use of the % Escaping Mechanism",
        allowed: &[Request("INVITE")],
    },
    Case {
        file: "TC_ESCNULL_V.dat",
        section: "3.1.1.4",
        title: "Escaped Nulls in URIs",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_ESC02_V.dat",
        section: "3.1.1.5",
        title: "Use of % When It Is Not an Escape",
        allowed: &[Answered(501)],
    },
    Case {
        file: "TC_LWSDISP_V.dat",
        section: "3.1.1.6",
        title: "Message with No LWS between Display Name and <",
        allowed: &[Request("OPTIONS")],
    },
    Case {
        file: "TC_LONGREQ_V.dat",
        section: "3.1.1.7",
        title: "Long Values in Header Fields",
        allowed: &[Request("INVITE")],
    },
    Case {
        file: "TC_DBLREQ.dat",
        section: "3.1.1.8",
        title: "Extra Trailing Octets in a UDP Datagram",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_SEMIURI_V.dat",
        section: "3.1.1.9",
        title: "Semicolon-Separated Parameters in URI User Part",
        allowed: &[Request("OPTIONS")],
    },
    Case {
        file: "TC_TRANSPORTS_V.dat",
        section: "3.1.1.10",
        title: "Varied and Unknown Transport Types",
        allowed: &[Request("OPTIONS")],
    },
    // A MESSAGE (with a multipart body): a method the edge does not implement, so 501.
    Case { file: "TC_MPART01.dat", section: "3.1.1.11", title: "Multipart MIME Message", allowed: &[Answered(501)] },
    Case { file: "TC_UNREASON_V.dat", section: "3.1.1.12", title: "Unusual Reason Phrase", allowed: &[Response(200)] },
    Case { file: "TC_NOREASON_V.dat", section: "3.1.1.13", title: "Empty Reason Phrase", allowed: &[Response(100)] },
    // §3.1.2: invalid messages; an element must not accept them as they are.
    Case {
        file: "TC_BADINV01_I.dat",
        section: "3.1.2.1",
        title: "Extraneous Header Field Separators",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_CLERR_I.dat",
        section: "3.1.2.2",
        title: "Content Length Larger Than Message",
        allowed: &[Malformed],
    },
    Case { file: "TC_NCL_I.dat", section: "3.1.2.3", title: "Negative Content-Length", allowed: &[Malformed] },
    Case {
        file: "TC_SCALAR02_V.dat",
        section: "3.1.2.4",
        title: "Request Scalar Fields with Overlarge Values",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_SCALARLG_V.dat",
        section: "3.1.2.5",
        title: "Response Scalar Fields with Overlarge Values",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_QUOTBAL_I.dat",
        section: "3.1.2.6",
        title: "Unterminated Quoted String in Display Name",
        allowed: &[Malformed],
    },
    Case { file: "TC_LTGTRURI_I.dat", section: "3.1.2.7", title: "<> Enclosing Request-URI", allowed: &[Malformed] },
    Case {
        file: "TC_LWSRURI_I.dat",
        section: "3.1.2.8",
        title: "Malformed SIP Request-URI (embedded LWS)",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_LWSSTART_V.dat",
        section: "3.1.2.9",
        title: "Multiple SP Separating Request-Line Elements",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_TRWS_I.dat",
        section: "3.1.2.10",
        title: "SP Characters at End of Request-Line",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_ESCRURI_V.dat",
        section: "3.1.2.11",
        title: "Escaped Headers in SIP Request-URI",
        allowed: &[Malformed],
    },
    // The RFC lets an element that does not use Date ignore it.
    Case {
        file: "TC_BADDATE_V.dat",
        section: "3.1.2.12",
        title: "Invalid Time Zone in Date Header Field",
        allowed: &[Malformed, Request("INVITE")],
    },
    Case {
        file: "TC_REGBADCT_I.dat",
        section: "3.1.2.13",
        title: "Failure to Enclose name-addr URI in <>",
        allowed: &[Malformed],
    },
    Case { file: "TC_BADASPEC_I.dat", section: "3.1.2.14", title: "Spaces within addr-spec", allowed: &[Malformed] },
    Case {
        file: "TC_BADDN_I.dat",
        section: "3.1.2.15",
        title: "Non-token Characters in Display Name",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_BADVERS_V.dat",
        section: "3.1.2.16",
        title: "Unknown Protocol Version",
        allowed: &[Answered(505)],
    },
    Case {
        file: "TC_MISMATCH01_V.dat",
        section: "3.1.2.17",
        title: "Start Line and CSeq Method Mismatch",
        allowed: &[Malformed],
    },
    Case {
        file: "TC_MISMATCH02_V.dat",
        section: "3.1.2.18",
        title: "Unknown Method with CSeq Method Mismatch",
        allowed: &[Malformed],
    },
    Case { file: "TC_BIGCODE_V.dat", section: "3.1.2.19", title: "Overlarge Response Code", allowed: &[Malformed] },
    // §3.2: transaction layer.
    Case {
        file: "TC_BADBRANCH_V.dat",
        section: "3.2.1",
        title: "Missing Transaction Identifier",
        allowed: &[Malformed, Request("OPTIONS")],
    },
    // §3.3: application layer; these parse, the answer is the UAS's.
    Case { file: "TC_INSUF_I.dat", section: "3.3.1", title: "Missing Required Header Fields", allowed: &[Malformed] },
    Case {
        file: "TC_UNKSCM_V.dat",
        section: "3.3.2",
        title: "Request-URI with Unknown Scheme",
        allowed: &[Answered(416)],
    },
    Case {
        file: "TC_NOVELSC_V.dat",
        section: "3.3.3",
        title: "Request-URI with Known but Atypical Scheme",
        allowed: &[Answered(416)],
    },
    Case {
        file: "TC_UNKSM2_V.dat",
        section: "3.3.4",
        title: "Unknown URI Schemes in Header Fields",
        allowed: &[Request("REGISTER")],
    },
    Case { file: "TC_BEXT01_V.dat", section: "3.3.5", title: "Proxy-Require and Require", allowed: &[Answered(420)] },
    Case { file: "TC_INVUT_V.dat", section: "3.3.6", title: "Unknown Content-Type", allowed: &[Answered(415)] },
    // Credentials in a scheme it does not know are ignored; the REGISTER is then challenged.
    Case {
        file: "TC_REGAUT01_V.dat",
        section: "3.3.7",
        title: "Unknown Authorization Scheme",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_MULTI01_I.dat",
        section: "3.3.8",
        title: "Multiple Values in Single Value Required Fields",
        allowed: &[Malformed],
    },
    Case { file: "TC_MCL01_I.dat", section: "3.3.9", title: "Multiple Content-Length Values", allowed: &[Malformed] },
    Case {
        file: "TC_BCAST_V.dat",
        section: "3.3.10",
        title: "200 OK Response with Broadcast Via Header Field Value",
        allowed: &[Response(200)],
    },
    Case { file: "TC_ZEROMF_V.dat", section: "3.3.11", title: "Max-Forwards of Zero", allowed: &[Request("OPTIONS")] },
    Case {
        file: "TC_CPARAM01_V.dat",
        section: "3.3.12",
        title: "REGISTER with a Contact Header Parameter",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_CPARAM02_V.dat",
        section: "3.3.13",
        title: "REGISTER with a url-parameter",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_REGESCRT_V.dat",
        section: "3.3.14",
        title: "REGISTER with a URL Escaped Header",
        allowed: &[Request("REGISTER")],
    },
    Case {
        file: "TC_SDP01_V.dat",
        section: "3.3.15",
        title: "Unacceptable Accept Offering",
        allowed: &[Answered(406)],
    },
    // §3.4: RFC 2543 syntax; a 3261 element may process it or refuse it.
    Case {
        file: "TC_INV2543_I.dat",
        section: "3.4.1",
        title: "INVITE with RFC 2543 Syntax",
        allowed: &[Malformed, Request("INVITE")],
    },
];

fn corpus() -> BTreeMap<String, Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rfc4475");
    std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "dat"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect()
}

#[test]
fn every_torture_message_ends_as_rfc_4475_says() {
    let files = corpus();
    assert_eq!(files.len(), CASES.len(), "one case per message file: {:?}", files.keys().collect::<Vec<_>>());
    let mut wrong = Vec::new();
    for case in CASES {
        let bytes = files.get(case.file).unwrap_or_else(|| panic!("{} is missing", case.file));
        let (got, why) = std::panic::catch_unwind(|| explained(bytes))
            .unwrap_or_else(|_| panic!("§{} {} ({}) panicked", case.section, case.title, case.file));
        if !case.allowed.iter().any(|a| a.admits(&got)) {
            wrong.push(format!(
                "§{} {} ({}): got {got:?} ({why}), allowed {:?}",
                case.section, case.title, case.file, case.allowed
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages end wrongly:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

#[test]
fn every_prefix_and_split_of_the_corpus_is_handled_without_panic() {
    // Truncated datagrams and TCP segments cut anywhere: the lexer and stream framer must cope.
    for (name, bytes) in corpus() {
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            std::panic::catch_unwind(|| outcome(prefix)).unwrap_or_else(|_| panic!("{name} cut at {cut} panicked"));
            switchboard_sip::hostile::stream(&bytes, cut);
        }
    }
}

#[test]
fn the_tortuous_invite_is_read_right() {
    let files = corpus();
    let bytes = &files["TC_WSINV.dat"];
    let raw = Raw::lex(bytes).expect("lexes");
    let inbound = request(raw, bytes).expect("accepted");
    let raw = &inbound.raw;
    assert_eq!(raw.one("Call-ID").expect("Call-ID"), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(raw.cseq().expect("CSeq"), (9, "INVITE"));
    assert_eq!(raw.tag("To"), Some("1918181833n"));
    assert_eq!(raw.tag("From"), Some("98asjd8"));
    assert_eq!(raw.branch(), Some("390skdjuw"));
    assert_eq!(raw.vias().len(), 3, "{:?}", raw.vias());
    // Content-Length 150 cuts the body exactly at the end of the SDP.
    assert_eq!(raw.body_by_length().expect("body").len(), 150);
    assert!(matches!(MessageError::Header("Via").status(), 400));
}
