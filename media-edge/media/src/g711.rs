//! G.711: 8-bit logarithmic companding of 16-bit linear samples (ITU-T G.711), µ-law (PCMU,
//! North America and Japan) and A-law (PCMA, everywhere else).

/// The two G.711 codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, RTP static payload type 0.
    Pcmu,
    /// A-law, RTP static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in SDP `rtpmap`.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The byte that decodes to silence.
    pub const fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one byte.
    pub fn decode_sample(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_TABLE[usize::from(byte)],
            Codec::Pcma => ALAW_TABLE[usize::from(byte)],
        }
    }

    /// Encodes samples, appending to `out`.
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode_sample(s)));
    }

    /// Decodes bytes, appending to `out`.
    pub fn decode(self, bytes: &[u8], out: &mut Vec<i16>) {
        out.extend(bytes.iter().map(|&b| self.decode_sample(b)));
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// µ-law encoding of one sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(ULAW_CLIP) + ULAW_BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && x & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    // Truncation is the format: sign, three exponent bits, four mantissa bits, all inverted.
    !((sign | (exponent << 4) | mantissa) as u8)
}

const fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 { -magnitude as i16 } else { magnitude as i16 }
}

/// A-law encoding of one sample.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let segment = SEGMENT_END.iter().position(|&end| pcm <= end);
    let value = match segment {
        None => 0x7F,
        Some(seg) if seg < 2 => ((seg as i32) << 4) | ((pcm >> 1) & 0x0F),
        Some(seg) => ((seg as i32) << 4) | ((pcm >> seg) & 0x0F),
    };
    (value ^ mask) as u8
}

const fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

macro_rules! decode_table {
    ($decode:ident) => {{
        let mut out = [0i16; 256];
        let mut i = 0;
        while i < 256 {
            out[i] = $decode(i as u8);
            i += 1;
        }
        out
    }};
}

static ULAW_TABLE: [i16; 256] = decode_table!(ulaw_decode);
static ALAW_TABLE: [i16; 256] = decode_table!(alaw_decode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_encodes_to_the_idle_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(Codec::Pcmu.decode_sample(0xFF), 0);
        assert_eq!(Codec::Pcma.decode_sample(0xD5), 8);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for code in 0..=255u8 {
                let linear = codec.decode_sample(code);
                let again = codec.decode_sample(codec.encode_sample(linear));
                assert_eq!(linear, again, "{codec:?} code {code:#04x}");
            }
        }
    }

    #[test]
    fn known_values_match_the_reference_implementation() {
        // Values from the ITU-T reference (Sun g711.c).
        assert_eq!(ulaw_encode(1000), 0xCE);
        assert_eq!(ulaw_encode(-1000), 0x4E);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(1000), 0xFA);
        assert_eq!(alaw_encode(-1000), 0x7A);
        assert_eq!(Codec::Pcmu.decode_sample(0x80), 32124);
        assert_eq!(Codec::Pcma.decode_sample(0xAA), 32256);
    }

    #[test]
    fn companding_error_stays_within_a_step() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for sample in (-32000i16..32000).step_by(97) {
                let back = codec.decode_sample(codec.encode_sample(sample));
                let error = (i32::from(sample) - i32::from(back)).abs();
                // The largest G.711 step is 1024 (µ-law) / 1024 (A-law) near full scale.
                assert!(error <= 1024 && error <= i32::from(sample).abs() / 8 + 16, "{codec:?} {sample} -> {back}");
            }
        }
    }
}
