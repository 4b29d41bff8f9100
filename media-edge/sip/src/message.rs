//! SIP messages in: size limits, a tolerant lexer of our own that finds the headers a reply needs
//! (so even a message rsip refuses gets its 400 or 501), request checks, rsip's typed view; and
//! replies out, built from the request's own Via, From, To, Call-ID and CSeq.

use std::fmt::Write as _;

/// Largest message accepted on any transport (RFC 3261 allows more over TCP; nobody needs it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Most header fields in one message.
pub const MAX_HEADERS: usize = 96;

/// Why a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Over [`MAX_HEADERS`].
    #[error("too many header fields")]
    TooManyHeaders,
    /// Not even a start line and headers.
    #[error("not a SIP message: {0}")]
    Malformed(&'static str),
    /// Not SIP/2.0.
    #[error("unsupported SIP version")]
    Version,
    /// A mandatory header is missing, repeated where it must be single, or unreadable.
    #[error("missing or malformed {0} header")]
    Header(&'static str),
    /// CSeq's method differs from the request's.
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    /// The body is shorter than Content-Length says.
    #[error("body is shorter than Content-Length")]
    BodyLength,
    /// A method we do not implement (answered 501).
    #[error("method {0} is not implemented")]
    Method(String),
    /// What rsip refused after our checks passed.
    #[error("unparseable: {0}")]
    Parser(String),
    /// A request URI scheme we do not serve (answered 416).
    #[error("URI scheme {0} is not supported")]
    Scheme(String),
    /// The request requires extensions we do not implement (answered 420).
    #[error("extensions not supported: {0}")]
    Extension(String),
    /// A body type we cannot read (answered 415).
    #[error("content type {0} is not supported")]
    MediaType(String),
    /// The request accepts no body type our answer would carry (answered 406).
    #[error("no acceptable answer body: we answer with application/sdp")]
    NotAcceptable,
}

impl MessageError {
    /// The status code a request refused for this reason gets.
    pub fn status(&self) -> u16 {
        match self {
            MessageError::TooLarge(_) => 513,
            MessageError::Version => 505,
            MessageError::Method(_) => 501,
            MessageError::Scheme(_) => 416,
            MessageError::Extension(_) => 420,
            MessageError::MediaType(_) => 415,
            MessageError::NotAcceptable => 406,
            _ => 400,
        }
    }

    /// Header fields the refusal must carry (RFC 3261 §8.2.1-8.2.3: Allow with 501, Unsupported
    /// with 420, Accept with 415).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            MessageError::Method(_) => vec![("Allow", METHODS.join(", "))],
            MessageError::Extension(tags) => vec![("Unsupported", tags.clone())],
            MessageError::MediaType(_) => vec![("Accept", "application/sdp".into())],
            _ => Vec::new(),
        }
    }
}

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD uri SIP/2.0`.
    Request {
        /// Method token as sent.
        method: &'a str,
        /// Request-URI as sent.
        uri: &'a str,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// Status code.
        code: u16,
    },
}

/// A message lexed just enough to route and answer it. Header names are canonical (compact
/// forms expanded, case normalised for the ones we read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw<'a> {
    /// The first line.
    pub start: StartLine<'a>,
    /// Header fields in order, folded lines joined.
    pub headers: Vec<(&'static str, String)>,
    /// Everything after the blank line (not yet cut to Content-Length).
    pub body: &'a [u8],
    /// False for a request of another SIP version: lexed so it can be answered 505.
    pub version_ok: bool,
}

const KNOWN: &[(&str, &str, &str)] = &[
    ("via", "v", "Via"),
    ("from", "f", "From"),
    ("to", "t", "To"),
    ("call-id", "i", "Call-ID"),
    ("cseq", "", "CSeq"),
    ("contact", "m", "Contact"),
    ("content-length", "l", "Content-Length"),
    ("content-type", "c", "Content-Type"),
    ("max-forwards", "", "Max-Forwards"),
    ("user-agent", "", "User-Agent"),
    ("authorization", "", "Authorization"),
    ("proxy-authorization", "", "Proxy-Authorization"),
    ("expires", "", "Expires"),
    ("record-route", "", "Record-Route"),
    ("route", "", "Route"),
    ("event", "o", "Event"),
    ("supported", "k", "Supported"),
    ("require", "", "Require"),
    ("proxy-require", "", "Proxy-Require"),
    ("accept", "", "Accept"),
];

fn canonical(name: &str) -> &'static str {
    for (long, short, canon) in KNOWN {
        if name.eq_ignore_ascii_case(long) || (!short.is_empty() && name.eq_ignore_ascii_case(short)) {
            return canon;
        }
    }
    "Other"
}

impl<'a> Raw<'a> {
    /// Lexes a message; only size, line structure and the version are checked here.
    pub fn lex(bytes: &'a [u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let (head, body) = split_head(bytes).ok_or(MessageError::Malformed("no end of headers"))?;
        let head = std::str::from_utf8(head).map_err(|_| MessageError::Malformed("headers are not UTF-8"))?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().ok_or(MessageError::Malformed("empty"))?;
        let (start, version_ok) = start_line(first)?;
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous field.
                let (_, v) = headers.last_mut().ok_or(MessageError::Malformed("continuation before any header"))?;
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(MessageError::Malformed("header without a colon"))?;
            let name = name.trim_end();
            if name.is_empty() || !name.bytes().all(is_token) {
                return Err(MessageError::Malformed("bad header name"));
            }
            if headers.len() >= MAX_HEADERS {
                return Err(MessageError::TooManyHeaders);
            }
            headers.push((canonical(name), value.trim().to_owned()));
        }
        Ok(Self { start, headers, body, version_ok })
    }

    /// Every value of a header (comma-separated values of Via are split).
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The single value of a header.
    pub fn one(&self, name: &'static str) -> Result<&str, MessageError> {
        let mut it = self.all(name);
        match (it.next(), it.next()) {
            (Some(v), None) if !v.is_empty() => Ok(v),
            _ => Err(MessageError::Header(name)),
        }
    }

    /// The Via values, topmost first, with comma-joined values split.
    pub fn vias(&self) -> Vec<&str> {
        self.all("Via").flat_map(split_commas).collect()
    }

    /// The request method, if this is a request.
    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The topmost Via's branch.
    pub fn branch(&self) -> Option<&str> {
        self.vias().first().and_then(|v| param(v, "branch"))
    }

    /// The topmost Via's sent-by (`host[:port]`).
    pub fn sent_by(&self) -> Option<&str> {
        via_parts(self.vias().first()?).map(|(_, sent_by)| sent_by)
    }

    /// What identifies the request's server transaction: the top Via's branch (RFC 3261), or for
    /// a client of RFC 2543 that sends none, the fields such a client is matched by (§17.2.3:
    /// Request-URI, Call-ID, CSeq number, From tag; ACK carries the INVITE's).
    pub fn transaction_key(&self) -> Option<String> {
        if let Some(branch) = self.branch().filter(|b| !b.is_empty()) {
            return Some(branch.to_owned());
        }
        let StartLine::Request { uri, .. } = self.start else { return None };
        let (n, _) = self.cseq().ok()?;
        Some(format!("rfc2543;{};{};{};{}", self.one("Call-ID").ok()?, n, self.tag("From").unwrap_or_default(), uri))
    }

    /// CSeq's number and method.
    pub fn cseq(&self) -> Result<(u32, &str), MessageError> {
        let v = self.one("CSeq")?;
        let mut parts = v.split_whitespace();
        let n = parts.next().and_then(|n| n.parse::<u32>().ok()).filter(|n| *n < 1 << 31);
        match (n, parts.next(), parts.next()) {
            (Some(n), Some(m), None) if m.bytes().all(is_token) => Ok((n, m)),
            _ => Err(MessageError::Header("CSeq")),
        }
    }

    /// The tag parameter of From or To.
    pub fn tag(&self, header: &'static str) -> Option<&str> {
        let v = self.one(header).ok()?;
        // Parameters follow the URI (after `>` when it is in angle brackets).
        let params = match v.rfind('>') {
            Some(i) => &v[i + 1..],
            None => v,
        };
        param(params, "tag")
    }

    /// Checks what every request must carry (RFC 3261 §8.1.1) and trims the body to
    /// Content-Length. Returns the body to use.
    pub fn check_request(&self) -> Result<&'a [u8], MessageError> {
        let method = self.method().ok_or(MessageError::Malformed("not a request"))?;
        let vias = self.vias();
        let top = vias.first().ok_or(MessageError::Header("Via"))?;
        // No branch at all is an RFC 2543 client (matched by its other fields); an empty one is
        // broken.
        if param(top, "branch").is_some_and(str::is_empty)
            || !vias.iter().all(|v| via_parts(v).is_some() && params_ok(v))
        {
            return Err(MessageError::Header("Via"));
        }
        for (name, value) in [("From", self.one("From")?), ("To", self.one("To")?)] {
            if !valid_address(value) {
                return Err(MessageError::Header(name));
            }
        }
        if !self.all("Contact").flat_map(split_commas).all(|c| c == "*" || valid_address(c)) {
            return Err(MessageError::Header("Contact"));
        }
        self.one("Call-ID")?;
        let (_, cseq_method) = self.cseq()?;
        if cseq_method != method && !(method == "ACK" && cseq_method == "INVITE") {
            return Err(MessageError::CSeqMethod);
        }
        if let Ok(mf) = self.one("Max-Forwards")
            && mf.parse::<u8>().is_err()
        {
            return Err(MessageError::Header("Max-Forwards"));
        }
        if self.all("Content-Length").count() > 1 {
            return Err(MessageError::Header("Content-Length"));
        }
        self.body_by_length()
    }

    /// Checks a response before it is matched to a transaction: the fields matching reads must
    /// be there once and readable, and the body as long as it says.
    pub fn check_response(&self) -> Result<(), MessageError> {
        self.vias().first().ok_or(MessageError::Header("Via"))?;
        self.one("From")?;
        self.one("To")?;
        self.one("Call-ID")?;
        self.cseq()?;
        if self.all("Content-Length").count() > 1 {
            return Err(MessageError::Header("Content-Length"));
        }
        self.body_by_length().map(|_| ())
    }

    /// What a server checks before acting on a new request (RFC 3261 §8.2.1-8.2.3): the URI
    /// scheme, extensions it requires, the body's type and what answer it accepts.
    pub fn screen(&self, body: &[u8]) -> Result<(), MessageError> {
        let (method, uri) = match &self.start {
            StartLine::Request { method, uri } => (*method, *uri),
            StartLine::Response { .. } => return Err(MessageError::Malformed("not a request")),
        };
        let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or_default();
        if !["sip", "sips", "tel"].iter().any(|s| scheme.eq_ignore_ascii_case(s)) {
            return Err(MessageError::Scheme(scheme.chars().take(32).collect()));
        }
        // ACK and CANCEL are never refused for Require (RFC 3261 §8.2.2.3); we support no
        // extension a client could require.
        if !matches!(method, "ACK" | "CANCEL") {
            let required: Vec<&str> =
                self.all("Require").flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty()).collect();
            if !required.is_empty() {
                return Err(MessageError::Extension(required.join(", ").chars().take(200).collect()));
            }
        }
        if method == "INVITE" {
            if !body.is_empty() {
                let media = self.all("Content-Type").next().unwrap_or_default();
                let media = media.split(';').next().unwrap_or_default().trim();
                if !media.eq_ignore_ascii_case("application/sdp") {
                    return Err(MessageError::MediaType(media.chars().take(64).collect()));
                }
            }
            // Our answer carries SDP; an Accept that rules it out cannot be satisfied.
            let ranges: Vec<&str> = self
                .all("Accept")
                .flat_map(|v| v.split(','))
                .map(|r| r.split(';').next().unwrap_or_default().trim())
                .filter(|r| !r.is_empty())
                .collect();
            let sdp = |r: &&str| ["application/sdp", "application/*", "*/*"].iter().any(|a| r.eq_ignore_ascii_case(a));
            if !ranges.is_empty() && !ranges.iter().any(sdp) {
                return Err(MessageError::NotAcceptable);
            }
        }
        Ok(())
    }

    /// The body as Content-Length delimits it (all of it when absent, as on UDP).
    pub fn body_by_length(&self) -> Result<&'a [u8], MessageError> {
        match self.all("Content-Length").next() {
            None => Ok(self.body),
            Some(v) => {
                let n: usize = v.trim().parse().map_err(|_| MessageError::Header("Content-Length"))?;
                self.body.get(..n).ok_or(MessageError::BodyLength)
            }
        }
    }
}

/// Methods the edge implements.
pub const METHODS: &[&str] = &["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO"];

/// A request that passed every check, with rsip's typed view.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    /// The lexed form (header values as received).
    pub raw: Raw<'a>,
    /// rsip's typed view of the same bytes, when rsip can read them (it refuses some valid
    /// messages, e.g. escaped characters in the Request-URI, so our checks decide).
    pub request: Option<rsip::Request>,
}

/// Parses a request: our checks, then rsip. On `Err`, the `Raw` (when lexing got that far and the
/// headers a reply needs are there) lets the caller answer with the error's status.
pub fn parse_request(bytes: &[u8]) -> Result<Inbound<'_>, (MessageError, Option<Raw<'_>>)> {
    let raw = Raw::lex(bytes).map_err(|e| (e, None))?;
    request(raw, bytes)
}

/// Finishes [`parse_request`] for a message already lexed from `bytes` (lexed once on the
/// receive path, where the User-Agent and the start line are looked at first).
pub fn request<'a>(raw: Raw<'a>, bytes: &'a [u8]) -> Result<Inbound<'a>, (MessageError, Option<Raw<'a>>)> {
    if !raw.version_ok {
        let answerable = replyable(&raw);
        return Err((MessageError::Version, answerable.then_some(raw)));
    }
    let body = match raw.check_request() {
        Ok(b) => b,
        Err(e) => {
            let answerable = replyable(&raw);
            return Err((e, answerable.then_some(raw)));
        }
    };
    let method = raw.method().unwrap_or_default();
    if !METHODS.contains(&method) {
        return Err((MessageError::Method(method.to_owned()), Some(raw)));
    }
    if let Err(e) = raw.screen(body) {
        return Err((e, Some(raw)));
    }
    let head_len = bytes.len() - raw.body.len();
    let mut exact = bytes[..head_len].to_vec();
    exact.extend_from_slice(body);
    match rsip_parse(&exact) {
        Ok(rsip::SipMessage::Request(request)) => Ok(Inbound { raw, request: Some(request) }),
        Ok(rsip::SipMessage::Response(_)) => Err((MessageError::Malformed("not a request"), None)),
        // rsip refuses some valid messages (escapes, ';' in the user part); ours decide.
        Err(_) => Ok(Inbound { raw, request: None }),
    }
}

/// rsip's parser behind a panic guard: it is unmaintained and has never been fuzzed, and a
/// panic in it must cost one message, not the edge.
pub fn rsip_parse(bytes: &[u8]) -> Result<rsip::SipMessage, String> {
    match std::panic::catch_unwind(|| rsip::SipMessage::try_from(bytes)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string().chars().take(120).collect()),
        Err(_) => Err("parser panicked".into()),
    }
}

/// Whether a reply can be built: it needs Via with a branch, From, To, Call-ID and CSeq.
pub fn replyable(raw: &Raw<'_>) -> bool {
    raw.method().is_some_and(|m| m != "ACK")
        && raw.vias().first().is_some_and(|v| !v.is_empty())
        && raw.one("From").is_ok()
        && raw.one("To").is_ok()
        && raw.one("Call-ID").is_ok()
        && raw.one("CSeq").is_ok()
}

fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(i) = find(bytes, b"\r\n\r\n") {
        return Some((&bytes[..i], &bytes[i + 4..]));
    }
    find(bytes, b"\n\n").map(|i| (&bytes[..i], &bytes[i + 2..]))
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The start line, and whether its version is SIP/2.0 (a request of another version is still
/// read, to be answered 505; a response of another version is refused here).
fn start_line(line: &str) -> Result<(StartLine<'_>, bool), MessageError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) = rest.split_once(' ').ok_or(MessageError::Malformed("bad status line"))?;
        if version != "2.0" {
            return Err(MessageError::Version);
        }
        // Exactly three digits, then the reason phrase (possibly empty) after one space.
        let code = rest.split_once(' ').map_or(rest, |(code, _)| code);
        let code = (code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code.parse::<u16>().ok())
            .flatten()
            .filter(|c| (100..700).contains(c));
        return code.map(|code| (StartLine::Response { code }, true)).ok_or(MessageError::Malformed("bad status code"));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::Malformed("bad request line"));
    };
    if method.is_empty() || !method.bytes().all(is_token) || uri.is_empty() {
        return Err(MessageError::Malformed("bad request line"));
    }
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':' (RFC 3261 §25.1).
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or_default();
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(MessageError::Malformed("bad request URI"));
    }
    // A SIP Request-URI never carries headers (RFC 3261 §19.1.5); a '?' in the user part is
    // just a character.
    let host_part = uri.rsplit_once('@').map_or(uri, |(_, host)| host);
    if (scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) && host_part.contains('?') {
        return Err(MessageError::Malformed("headers in the request URI"));
    }
    let version_ok = version.eq_ignore_ascii_case("SIP/2.0");
    if !version_ok && !version.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("SIP/")) {
        return Err(MessageError::Malformed("bad request line"));
    }
    Ok((StartLine::Request { method, uri }, version_ok))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// A Via value's transport and sent-by (`host[:port]`), allowing the linear white space RFC 3261
/// allows around its slashes (`SIP / 2.0 / UDP host`). None when it is not SIP/2.0.
pub fn via_parts(via: &str) -> Option<(&str, &str)> {
    let head = via.split(';').next().unwrap_or_default();
    let mut rest = head.trim_start();
    let mut parts = [""; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        let end = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
        *part = &rest[..end];
        rest = rest[end..].trim_start();
        if i < 2 {
            rest = rest.strip_prefix('/')?.trim_start();
        }
    }
    let sent_by = rest.trim();
    let ok = parts[0].eq_ignore_ascii_case("SIP")
        && parts[1] == "2.0"
        && !parts[2].is_empty()
        && parts[2].bytes().all(is_token)
        && !sent_by.is_empty()
        && !sent_by.contains(char::is_whitespace);
    ok.then_some((parts[2], sent_by))
}

/// Whether a From, To or Contact value is a name-addr or addr-spec (RFC 3261 §20.10, §25.1):
/// quotes closed, a URI in `<>` without white space, and a bare URI without `?` or `,` (those
/// force the brackets).
pub fn valid_address(value: &str) -> bool {
    let v = value.trim();
    let rest = if let Some(quoted) = v.strip_prefix('"') {
        // A quoted display name: find its closing quote, skipping escaped characters.
        let mut escaped = false;
        let mut end = None;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { return false };
        let after = quoted[end + 1..].trim_start();
        if !after.starts_with('<') {
            return false;
        }
        after
    } else {
        v
    };
    match rest.find('<') {
        Some(open) => {
            let Some(close) = rest[open..].find('>').map(|i| open + i) else { return false };
            let uri = &rest[open + 1..close];
            let display = rest[..open].trim();
            // An unquoted display name is tokens and white space (UTF-8 letters let through:
            // phones send unquoted names in their owner's language).
            let display_ok = display.split_whitespace().all(|w| w.bytes().all(|b| is_token(b) || b >= 0x80));
            display_ok && uri_like(uri) && !uri.contains(char::is_whitespace) && params_ok(&rest[close..])
        }
        None => {
            let uri = rest.split(';').next().unwrap_or_default().trim();
            uri_like(uri) && !uri.contains(['?', ',', '"']) && !uri.contains(char::is_whitespace) && params_ok(rest)
        }
    }
}

/// Every `;name[=value]` after the first `;` has a token name (no `;;`).
fn params_ok(v: &str) -> bool {
    v.split(';').skip(1).all(|p| {
        let name = p.split('=').next().unwrap_or_default().trim();
        !name.is_empty() && name.bytes().all(is_token)
    })
}

/// `scheme:something`.
fn uri_like(uri: &str) -> bool {
    uri.split_once(':').is_some_and(|(scheme, rest)| {
        scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !rest.is_empty()
    })
}

/// A Via value with `received` and `rport` set for `source` (see [`Reply::received`]).
pub fn stamp_via(via: &str, source: std::net::SocketAddr) -> String {
    let (head, params) = via.split_once(';').unwrap_or((via, ""));
    // `SIP/2.0/UDP host[:port]`: the host is what the client claims to be.
    let sent_by = via_parts(via).map_or("", |(_, sent_by)| sent_by);
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => sent_by.rsplit_once(':').map_or(sent_by, |(h, _)| h),
    };
    let mut kept = Vec::new();
    let mut wants_rport = false;
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("rport") {
            wants_rport = true;
        } else if !name.eq_ignore_ascii_case("received") {
            kept.push(p);
        }
    }
    let ip = source.ip();
    let same_host = host.parse::<std::net::IpAddr>().is_ok_and(|h| h == ip);
    let mut out = head.trim_end().to_owned();
    for p in kept {
        out.push(';');
        out.push_str(p);
    }
    if !same_host || wants_rport {
        let _ = write!(out, ";received={ip}");
    }
    if wants_rport {
        let _ = write!(out, ";rport={}", source.port());
    }
    out
}

/// Splits a header value at top-level commas (not inside quotes or angle brackets).
pub(crate) fn split_commas(v: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(v[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// A `;name=value` parameter from a parameter list.
pub fn param<'v>(v: &'v str, name: &str) -> Option<&'v str> {
    v.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| val.trim().trim_matches('"'))
    })
}

/// The URI of a From, To or Contact value: inside `<>` when there is a display name, else up to
/// the first parameter.
pub fn header_uri(value: &str) -> &str {
    let v = value.trim();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// The user part of a SIP URI (`sip:+15550100@host` → `+15550100`), as a number to look up.
pub fn uri_user(uri: &str) -> Option<&str> {
    let uri = uri.trim().trim_start_matches('<');
    let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:")).or_else(|| uri.strip_prefix("tel:"))?;
    let user = rest.split(['@', ';', '>', '?']).next()?;
    (!user.is_empty()).then_some(user)
}

/// The standard reason phrase.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ if code < 200 => "Progress",
        _ if code < 300 => "OK",
        _ => "Error",
    }
}

/// A reply to a request, carrying its Via, From, To (with our tag), Call-ID and CSeq.
#[derive(Debug, Clone)]
pub struct Reply {
    code: u16,
    reason: String,
    base: Vec<(&'static str, String)>,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// A reply with `code` to the lexed request; `to_tag` is added to To unless it has one
    /// (RFC 3261 §8.2.6.2: every reply but 100 carries a To tag).
    pub fn to(req: &Raw<'_>, code: u16, to_tag: &str) -> Self {
        let mut base = Vec::new();
        for v in req.vias() {
            base.push(("Via", v.to_owned()));
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.all(name).next() {
                let mut v = v.to_owned();
                if name == "To" && code != 100 && req.tag("To").is_none() && !to_tag.is_empty() {
                    let _ = write!(v, ";tag={to_tag}");
                }
                base.push((canonical(name), v));
            }
        }
        Self { code, reason: reason(code).to_owned(), base, extra: Vec::new(), body: Vec::new() }
    }

    /// Marks the top Via with where the request really came from: `received` when the sent-by
    /// host is not the source address (RFC 3261 §18.2.1), and `rport` filled in when the client
    /// asked for it (RFC 3581), so NATed clients get their answers and know their address.
    pub fn received(mut self, source: std::net::SocketAddr) -> Self {
        if let Some((_, via)) = self.base.iter_mut().find(|(n, _)| *n == "Via") {
            *via = stamp_via(via, source);
        }
        self
    }

    /// Replaces the reason phrase (control characters dropped).
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.chars().filter(|c| !c.is_control()).take(100).collect();
        self
    }

    /// Adds a header (newlines removed so nothing can be injected).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let clean = |s: &str| s.chars().filter(|c| *c != '\r' && *c != '\n').collect::<String>();
        self.extra.push((clean(name), clean(value)));
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self = self.header("Content-Type", content_type);
        self.body = body;
        self
    }

    /// The status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The bytes to send.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {} {}\r\n", self.code, self.reason);
        for (n, v) in &self.base {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        for (n, v) in &self.extra {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let _ = write!(out, "Server: Switchboard\r\nContent-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const INVITE: &str = "INVITE sip:+15550100@edge.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15550100@edge.example>\r\n\
From: \"Alice\" <sip:alice@carrier.example>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn addresses_are_name_addr_or_addr_spec() {
        for good in [
            "<sip:+15550100@edge.example>",
            "\"Alice\" <sip:alice@carrier.example>;tag=1928301774",
            "sipp <sip:sipp@127.0.0.1:5061>;tag=1",
            "Jöhn Müller <sip:jm@example.de>",
            "\"J Rosenberg \\\"\"  <sip:jdrosen@example.com> ; tag = 98asjd8",
            "sip:caller@example.net;tag=93334",
        ] {
            assert!(valid_address(good), "{good}");
        }
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "<sip:joe@example.org>;;;;",
            "nothing here",
        ] {
            assert!(!valid_address(bad), "{bad}");
        }
    }

    #[test]
    fn replies_tell_the_client_where_its_request_came_from() {
        let natted: std::net::SocketAddr = "203.0.113.9:40123".parse().expect("addr");
        // Behind NAT, asking for rport: both filled in.
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport", natted),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=203.0.113.9;rport=40123"
        );
        // Behind NAT without rport: received only.
        assert_eq!(
            stamp_via("SIP/2.0/UDP phone.example;branch=z9hG4bK1", natted),
            "SIP/2.0/UDP phone.example;branch=z9hG4bK1;received=203.0.113.9"
        );
        // Sent from where it says: nothing to add.
        let direct: std::net::SocketAddr = "10.0.0.1:5060".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1", direct),
            "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1"
        );
        // IPv6 sent-by, and a stale received the client put there is replaced.
        let v6: std::net::SocketAddr = "[2001:db8::1]:5070".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/UDP [2001:db8::1]:5070;received=1.2.3.4;branch=z9hG4bK1;rport", v6),
            "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;received=2001:db8::1;rport=5070"
        );
        // Through a reply: only the top Via is stamped.
        let raw = Raw::lex(INVITE.as_bytes()).expect("lexes");
        let reply = String::from_utf8(Reply::to(&raw, 200, "t").received(natted).encode()).expect("utf8");
        assert!(
            reply.contains(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;received=203.0.113.9;rport=40123\r\n"
            ),
            "{reply}"
        );
    }

    #[test]
    fn a_good_invite_parses_both_ways() {
        let msg = format!("{INVITE}trailing garbage on UDP");
        let inbound = parse_request(msg.as_bytes()).expect("valid");
        assert_eq!(inbound.raw.method(), Some("INVITE"));
        assert_eq!(inbound.raw.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(inbound.raw.sent_by(), Some("10.0.0.1:5060"));
        assert_eq!(inbound.raw.cseq(), Ok((314159, "INVITE")));
        assert_eq!(inbound.raw.tag("From"), Some("1928301774"));
        assert_eq!(inbound.raw.tag("To"), None);
        assert_eq!(inbound.request.expect("rsip reads it").body, b"v=0\n", "the body is cut at Content-Length");
        assert_eq!(uri_user("sip:+15550100@edge.example"), Some("+15550100"));
    }

    #[test]
    fn replies_carry_the_request_identity_and_our_tag() {
        let raw = Raw::lex(INVITE.as_bytes()).expect("lex");
        let bytes = Reply::to(&raw, 404, "abc").header("Warning", "399 x \"no\r\ninjected: 1\"").encode();
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.starts_with("SIP/2.0 404 Not Found\r\n"), "{text}");
        assert!(text.contains("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n"));
        assert!(text.contains("To: <sip:+15550100@edge.example>;tag=abc\r\n"));
        assert!(text.contains("CSeq: 314159 INVITE\r\n"));
        assert!(!text.contains("\r\ninjected"), "no header injection: {text}");
        let parsed = rsip_parse(text.as_bytes()).expect("rsip reads our reply");
        assert!(parsed.is_response());
        let trying = String::from_utf8(Reply::to(&raw, 100, "abc").encode()).expect("utf8");
        assert!(!trying.contains("tag=abc"), "100 Trying carries no To tag");
    }

    #[test]
    fn refusals_say_why_and_whether_a_reply_is_possible() {
        // No branch: an RFC 2543 client, matched by Request-URI, Call-ID, CSeq and From tag.
        let no_branch = INVITE.replace(";branch=z9hG4bK776asdhds", "");
        let old = parse_request(no_branch.as_bytes()).expect("an RFC 2543 request is served");
        assert_eq!(
            old.raw.transaction_key().as_deref(),
            Some("rfc2543;a84b4c76e66710@pc33.example;314159;1928301774;sip:+15550100@edge.example")
        );
        let empty_branch = INVITE.replace(";branch=z9hG4bK776asdhds", ";branch=");
        let (e, raw) = parse_request(empty_branch.as_bytes()).expect_err("empty branch");
        assert_eq!((e, raw.is_some()), (MessageError::Header("Via"), true));
        let v3 = INVITE.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia");
        let (e, raw) = parse_request(v3.as_bytes()).expect_err("version");
        assert_eq!((e.status(), raw.is_some()), (505, true), "another version is answered 505");
        let mismatch = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
        let (e, raw) = parse_request(mismatch.as_bytes()).expect_err("cseq");
        assert_eq!((e.status(), raw.is_some()), (400, true));
        let unknown = INVITE.replace("INVITE sip:", "NEWMETHOD sip:").replace("314159 INVITE", "314159 NEWMETHOD");
        let (e, raw) = parse_request(unknown.as_bytes()).expect_err("unknown method");
        assert_eq!((e.status(), raw.is_some()), (501, true));
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert_eq!(parse_request(short.as_bytes()).expect_err("short").0, MessageError::BodyLength);
        let huge = format!("{INVITE}{}", "x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(parse_request(huge.as_bytes()).expect_err("huge").0.status(), 513);
    }

    #[test]
    fn compact_forms_and_folding_are_understood() {
        let compact = "OPTIONS sip:edge.example SIP/2.0\r\nv: SIP/2.0/TCP h.example\r\n ;branch=z9hG4bKa\r\n\
f: <sip:a@b>;tag=1\r\nt: <sip:edge.example>\r\ni: x@y\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
        let raw = Raw::lex(compact.as_bytes()).expect("lex");
        assert_eq!(raw.branch(), Some("z9hG4bKa"));
        assert_eq!(raw.check_request(), Ok(&b""[..]));
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_request(&bytes);
        }

        #[test]
        fn mutated_invites_never_panic(pos in 0usize..500, byte in proptest::num::u8::ANY) {
            let mut b = INVITE.as_bytes().to_vec();
            let i = pos % b.len();
            b[i] = byte;
            if let Err((_, Some(raw))) = parse_request(&b) {
                let _ = Reply::to(&raw, 400, "t").encode();
            }
        }
    }
}
