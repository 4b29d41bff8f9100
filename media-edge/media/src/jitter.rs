//! The jitter buffer: packets arrive early, late, twice or never; 20 ms frames leave on the
//! caller's clock. Playout is by RTP timestamp (not sequence), so peers sending 10, 20 or 30 ms
//! packets all work. A missing frame repeats the last one at half volume once, then silence
//! (simple concealment; a lost frame of G.711 is 20 ms). Interarrival jitter is measured as
//! RFC 3550 §A.8 says, for our receiver reports.

use std::collections::BTreeMap;

use crate::FRAME_SAMPLES;
use crate::g711::Codec;

/// Counters for reports and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted.
    pub received: u64,
    /// Packets seen twice.
    pub duplicates: u64,
    /// Packets that came after their playout time.
    pub late: u64,
    /// Frames played with nothing received for them.
    pub concealed: u64,
    /// Frames played from received audio.
    pub played: u64,
    /// Times the buffer had to resynchronise (new source, clock jump, overflow).
    pub resyncs: u64,
}

/// One 20 ms frame out of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Not started yet (or nothing heard for a while): nothing to play, write silence.
    Idle,
    /// Audio, possibly partly concealed.
    Audio(Vec<i16>),
    /// Concealment: nothing arrived for this frame.
    Concealed(Vec<i16>),
}

impl Frame {
    /// The samples, silence for idle.
    pub fn samples(&self) -> Vec<i16> {
        match self {
            Frame::Idle => vec![0; FRAME_SAMPLES],
            Frame::Audio(s) | Frame::Concealed(s) => s.clone(),
        }
    }
}

/// The buffer for one incoming stream.
#[derive(Debug)]
pub struct JitterBuffer {
    codec: Codec,
    depth: u64,
    max: u64,
    packets: BTreeMap<u64, Vec<i16>>,
    playout: Option<u64>,
    highest: Option<u64>,
    ssrc: Option<u32>,
    last: Vec<i16>,
    missing_run: u32,
    transit: Option<i64>,
    jitter: f64,
    stats: JitterStats,
}

const FRAME: u64 = FRAME_SAMPLES as u64;

impl JitterBuffer {
    /// A buffer that waits for `depth_frames` frames before playing, and holds at most one second.
    pub fn new(codec: Codec, depth_frames: u64) -> Self {
        JitterBuffer {
            codec,
            depth: depth_frames.max(1) * FRAME,
            max: 50 * FRAME,
            packets: BTreeMap::new(),
            playout: None,
            highest: None,
            ssrc: None,
            last: Vec::new(),
            missing_run: 0,
            transit: None,
            jitter: 0.0,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Interarrival jitter in timestamp units (RFC 3550 §6.4.1).
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// The codec, changed when a re-INVITE renegotiates.
    pub fn set_codec(&mut self, codec: Codec) {
        self.codec = codec;
    }

    fn reset(&mut self) {
        self.packets.clear();
        self.playout = None;
        self.highest = None;
        self.transit = None;
        self.stats.resyncs += 1;
    }

    /// Extends a 32-bit timestamp to 64 bits near the highest seen (wrap-around safe).
    fn extend(&self, timestamp: u32) -> u64 {
        let Some(highest) = self.highest else { return u64::from(timestamp) + (1 << 32) };
        let base = highest & !0xFFFF_FFFF;
        let candidates = [base.wrapping_sub(1 << 32), base, base + (1 << 32)];
        candidates
            .into_iter()
            .map(|b| b.wrapping_add(u64::from(timestamp)))
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(u64::from(timestamp))
    }

    /// Takes one packet's payload; `arrival_ms` is the receiver's clock.
    pub fn push(&mut self, ssrc: u32, timestamp: u32, payload: &[u8], arrival_ms: u64) {
        if payload.is_empty() {
            return;
        }
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.reset();
            }
            self.ssrc = Some(ssrc);
        }
        let mut ts = self.extend(timestamp);
        if let (Some(playout), Some(highest)) = (self.playout, self.highest)
            && (ts > highest + 8000 * 2 || ts + 8000 * 2 < playout)
        {
            // A jump of more than two seconds either way: the sender restarted its clock.
            self.reset();
            ts = self.extend(timestamp);
        }
        // RFC 3550 A.8, in timestamp units (8 per millisecond).
        let transit = (arrival_ms as i64) * 8 - ts as i64;
        if let Some(previous) = self.transit {
            let d = (transit - previous).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        if self.playout.is_some_and(|p| ts + payload.len() as u64 <= p) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ts) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        let mut samples = Vec::with_capacity(payload.len());
        self.codec.decode(payload, &mut samples);
        self.packets.insert(ts, samples);
        self.highest = Some(self.highest.map_or(ts, |h| h.max(ts)));
        // Too much buffered (the sender runs fast or we stalled): skip ahead to stay within max.
        if let (Some(playout), Some(highest)) = (self.playout, self.highest)
            && highest > playout + self.max
        {
            let keep_from = highest - self.depth;
            self.packets = self.packets.split_off(&keep_from);
            self.playout = Some(keep_from);
            self.stats.resyncs += 1;
        }
    }

    /// The next 20 ms frame.
    pub fn pop(&mut self) -> Frame {
        let playout = match self.playout {
            Some(p) => p,
            None => {
                let (Some((&first, _)), Some(highest)) = (self.packets.first_key_value(), self.highest) else {
                    return Frame::Idle;
                };
                if highest + FRAME < first + self.depth {
                    return Frame::Idle;
                }
                first
            }
        };
        let end = playout + FRAME;
        let mut out = vec![0i16; FRAME_SAMPLES];
        let mut covered = 0;
        // The packet that starts before this frame may still cover part of it.
        let start_key = self.packets.range(..=playout).next_back().map_or(playout, |(k, _)| *k);
        for (&ts, samples) in self.packets.range(start_key..end) {
            for (i, &s) in samples.iter().enumerate() {
                let at = ts + i as u64;
                if at >= playout && at < end {
                    out[(at - playout) as usize] = s;
                    covered += 1;
                }
            }
        }
        // Drop what is fully played.
        let keep = self.packets.split_off(&end);
        let played = std::mem::replace(&mut self.packets, keep);
        if let Some((ts, s)) = played.into_iter().next_back().filter(|(ts, s)| ts + s.len() as u64 > end) {
            self.packets.insert(ts, s);
        }
        self.playout = Some(end);
        if covered > 0 {
            self.missing_run = 0;
            self.stats.played += 1;
            self.last.clone_from(&out);
            return Frame::Audio(out);
        }
        self.stats.concealed += 1;
        self.missing_run += 1;
        if self.missing_run > 25 && self.packets.is_empty() {
            // Half a second of nothing: the peer went quiet (silence suppression, hold).
            self.playout = None;
            return Frame::Idle;
        }
        if self.missing_run == 1 && !self.last.is_empty() {
            return Frame::Concealed(self.last.iter().map(|s| s / 2).collect());
        }
        Frame::Concealed(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(value: i16) -> Vec<u8> {
        vec![Codec::Pcmu.encode_sample(value); FRAME_SAMPLES]
    }

    fn level(frame: &Frame) -> i16 {
        frame.samples()[0]
    }

    #[test]
    fn reorders_and_waits_for_its_depth() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 2);
        jb.push(1, 160, &payload(1000), 20);
        assert_eq!(jb.pop(), Frame::Idle, "waits until two frames are buffered");
        jb.push(1, 480, &payload(3000), 40);
        jb.push(1, 320, &payload(2000), 41);
        let levels: Vec<i16> = (0..3).map(|_| level(&jb.pop())).collect();
        let q = |x| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(x));
        assert_eq!(levels, vec![q(1000), q(2000), q(3000)]);
        assert_eq!(jb.stats().received, 3);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped_and_losses_concealed() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 1);
        jb.push(1, 0, &payload(1000), 0);
        jb.push(1, 0, &payload(1000), 1);
        assert!(matches!(jb.pop(), Frame::Audio(_)));
        // Frame at 160 never arrives; 320 does.
        jb.push(1, 320, &payload(1000), 45);
        let concealed = jb.pop();
        assert!(matches!(concealed, Frame::Concealed(_)));
        assert_eq!(level(&concealed), Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(1000)) / 2);
        assert!(matches!(jb.pop(), Frame::Audio(_)));
        jb.push(1, 160, &payload(1000), 60);
        let stats = jb.stats();
        assert_eq!((stats.duplicates, stats.late, stats.concealed, stats.played), (1, 1, 1, 2));
    }

    #[test]
    fn timestamps_wrap_and_clock_jumps_resync() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 1);
        let start = u32::MAX - 159;
        jb.push(7, start, &payload(500), 0);
        jb.push(7, start.wrapping_add(160), &payload(600), 20);
        assert!(matches!(jb.pop(), Frame::Audio(_)));
        assert!(matches!(jb.pop(), Frame::Audio(_)));
        // Ten seconds ahead: a restarted clock, not ten seconds of loss.
        jb.push(7, 80_000, &payload(700), 40);
        assert!(matches!(jb.pop(), Frame::Audio(_)));
        assert_eq!(jb.stats().concealed, 0);
        assert!(jb.stats().resyncs >= 1);
        // A new source starts afresh.
        jb.push(8, 5, &payload(700), 60);
        assert!(matches!(jb.pop(), Frame::Audio(_)));
    }

    #[test]
    fn ten_millisecond_packets_fill_twenty_millisecond_frames() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 1);
        let half = vec![Codec::Pcmu.encode_sample(1000); 80];
        for i in 0..4u32 {
            jb.push(1, i * 80, &half, u64::from(i) * 10);
        }
        for _ in 0..2 {
            let Frame::Audio(samples) = jb.pop() else { panic!("audio expected") };
            assert!(samples.iter().all(|&s| s > 900));
        }
    }

    #[test]
    fn steady_arrivals_measure_no_jitter_and_uneven_ones_do() {
        let mut steady = JitterBuffer::new(Codec::Pcmu, 1);
        let mut uneven = JitterBuffer::new(Codec::Pcmu, 1);
        for i in 0..50u64 {
            steady.push(1, (i * 160) as u32, &payload(0), i * 20);
            uneven.push(1, (i * 160) as u32, &payload(0), i * 20 + (i % 2) * 15);
            let _ = steady.pop();
            let _ = uneven.pop();
        }
        assert_eq!(steady.jitter(), 0);
        assert!(uneven.jitter() > 60, "{}", uneven.jitter());
    }
}
