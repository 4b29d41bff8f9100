//! Sans-IO media for the edge media node: packets and samples in, packets and samples out. No
//! socket, no clock (callers pass milliseconds), no panic on any packet (fuzzed; see `fuzz/`).
//!
//! - [`g711`]: PCMU (µ-law) and PCMA (A-law).
//! - [`rtp`] / [`rtcp`]: packet views without copying, and the reports we send.
//! - [`dtmf`]: RFC 4733 telephone-events, reported once per key press.
//! - [`sdp`]: the audio offer/answer for PCMU, PCMA and telephone-event, hold by direction.
//! - [`jitter`]: reorders and times packets into 20 ms frames, hides losses, measures jitter.
//! - [`audio`]: prompts from WAV files (any rate, resampled to 8 kHz), hold music, tones.
//! - [`recording`]: the stereo WAV (caller left, agent right) written as the call goes.

pub mod audio;
pub mod dtmf;
pub mod g711;
pub mod hostile;
pub mod jitter;
pub mod recording;
pub mod rtcp;
pub mod rtp;
pub mod sdp;

/// Telephony sample rate: G.711 is 8 kHz.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz, the packet size every peer we meet uses.
pub const FRAME_SAMPLES: usize = 160;
/// One frame's duration in milliseconds.
pub const FRAME_MS: u64 = 20;
