//! How many segments (billable SMS parts) a text takes: GSM 03.38 7-bit when every character is
//! in the GSM alphabet (extension characters cost two septets), UCS-2 otherwise.

/// The encoding a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet: 160 septets in one part, 153 per part when split.
    Gsm7,
    /// UCS-2: 70 UTF-16 units in one part, 67 per part when split.
    Ucs2,
}

/// The result of counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// The encoding the whole text needs.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Billable parts.
    pub count: usize,
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Counts the segments of `text`.
pub fn segments(text: &str) -> Segments {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in text.chars() {
        if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else if GSM_BASIC.contains(c) {
            septets += 1;
        } else {
            gsm = false;
            break;
        }
    }
    let (encoding, units, single, part) =
        if gsm { (Encoding::Gsm7, septets, 160, 153) } else { (Encoding::Ucs2, text.encode_utf16().count(), 70, 67) };
    let count = match units {
        0 => 1,
        n if n <= single => 1,
        n => n.div_ceil(part),
    };
    Segments { encoding, units, count }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_gsm7_and_fits_160() {
        let s = segments(&"a".repeat(160));
        assert_eq!((s.encoding, s.count), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)).count, 2);
        assert_eq!(segments(&"a".repeat(306)).count, 2);
        assert_eq!(segments(&"a".repeat(307)).count, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        let s = segments(&"€".repeat(80));
        assert_eq!((s.encoding, s.units, s.count), (Encoding::Gsm7, 160, 1));
        assert_eq!(segments(&format!("{}a", "€".repeat(80))).count, 2);
    }

    #[test]
    fn anything_outside_gsm_makes_the_whole_text_ucs2() {
        let s = segments("Grüße 😀");
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.units, 8, "the emoji is two UTF-16 units");
        assert_eq!(segments(&"ж".repeat(70)).count, 1);
        assert_eq!(segments(&"ж".repeat(71)).count, 2);
        assert_eq!(segments(&"ж".repeat(135)).count, 3);
    }

    #[test]
    fn an_empty_text_is_one_segment() {
        assert_eq!(segments("").count, 1);
    }
}
