//! Audio the edge plays: prompts read from WAV files (any sample rate and format hound reads,
//! mixed to mono and resampled to 8 kHz), hold music, tones, and a player that cuts it all
//! into 20 ms frames.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::Arc;

use thiserror::Error;

use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// The longest prompt we take (ten minutes of 8 kHz audio), so an upload cannot eat memory.
pub const MAX_PROMPT_SECONDS: u32 = 600;

/// Why a WAV file cannot be used as a prompt.
#[derive(Debug, Error)]
pub enum AudioError {
    /// Not a WAV file hound can read.
    #[error("not a readable WAV file: {0}")]
    NotWav(String),
    /// Longer than [`MAX_PROMPT_SECONDS`].
    #[error("prompt longer than {MAX_PROMPT_SECONDS} seconds")]
    TooLong,
    /// No samples.
    #[error("the file has no audio")]
    Empty,
}

/// 8 kHz mono linear samples, shared between calls.
pub type Clip = Arc<[i16]>;

/// Reads a WAV file into an 8 kHz mono clip.
pub fn load_wav(bytes: &[u8]) -> Result<Clip, AudioError> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| AudioError::NotWav(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate == 0 || spec.channels == 0 {
        return Err(AudioError::NotWav("zero rate or channels".into()));
    }
    let frames = reader.duration();
    if u64::from(frames) > u64::from(MAX_PROMPT_SECONDS) * u64::from(spec.sample_rate) {
        return Err(AudioError::TooLong);
    }
    let channels = usize::from(spec.channels);
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .map_err(|e| AudioError::NotWav(e.to_string()))?;
    let mono: Vec<f32> = samples.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    if mono.is_empty() {
        return Err(AudioError::Empty);
    }
    let resampled = resample(&mono, spec.sample_rate, SAMPLE_RATE);
    Ok(resampled.iter().map(|&s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16).collect())
}

/// Writes 8 kHz mono samples as a 16-bit WAV file.
pub fn wav_bytes(samples: &[i16]) -> Result<Vec<u8>, AudioError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    let write = |out: &mut Cursor<Vec<u8>>| -> Result<(), hound::Error> {
        let mut writer = hound::WavWriter::new(out, spec)?;
        for &s in samples {
            writer.write_sample(s)?;
        }
        writer.finalize()
    };
    write(&mut out).map_err(|e| AudioError::NotWav(e.to_string()))?;
    Ok(out.into_inner())
}

/// Band-limited resampling by windowed sinc (16 zero crossings each side, Blackman window).
/// Offline work (prompts are converted once when loaded), so clarity beats speed here.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Low-pass at the lower Nyquist so downsampling does not alias.
    let cutoff = ratio.min(1.0);
    const HALF: f64 = 16.0;
    let half_width = HALF / cutoff;
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    (0..out_len)
        .map(|n| {
            let t = n as f64 / ratio;
            let lo = (t - half_width).ceil().max(0.0) as usize;
            let hi = ((t + half_width).floor() as usize).min(input.len() - 1);
            let mut acc = 0.0;
            for (k, &x) in input.iter().enumerate().take(hi + 1).skip(lo) {
                let d = t - k as f64;
                let arg = d * cutoff;
                let sinc = if arg.abs() < 1e-9 {
                    1.0
                } else {
                    (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
                };
                let w = d / half_width;
                let window =
                    0.42 + 0.5 * (std::f64::consts::PI * w).cos() + 0.08 * (2.0 * std::f64::consts::PI * w).cos();
                acc += f64::from(x) * cutoff * sinc * window;
            }
            acc as f32
        })
        .collect()
}

/// A sine tone (e.g. the beep before voicemail).
pub fn tone(frequency: f32, millis: u32, amplitude: i16) -> Clip {
    let n = (SAMPLE_RATE * millis / 1000) as usize;
    let step = 2.0 * std::f32::consts::PI * frequency / SAMPLE_RATE as f32;
    (0..n).map(|i| ((i as f32 * step).sin() * f32::from(amplitude)) as i16).collect()
}

/// The built-in hold music: a slow eight-bar arpeggio in C major with soft attack and decay,
/// eight seconds that loop without a click (every note ends at zero amplitude).
pub fn hold_music() -> Clip {
    // C-E-G-C' / A-C-E-A / F-A-C-F / G-B-D-G, quarter notes at 120 bpm.
    const NOTES: [f32; 16] = [
        261.63, 329.63, 392.00, 523.25, 220.00, 261.63, 329.63, 440.00, 174.61, 220.00, 261.63, 349.23, 196.00, 246.94,
        293.66, 392.00,
    ];
    let note_len = (SAMPLE_RATE / 2) as usize;
    let mut out = Vec::with_capacity(note_len * NOTES.len());
    for &f in &NOTES {
        let step = 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32;
        for i in 0..note_len {
            let t = i as f32 / note_len as f32;
            let envelope = (t * 20.0).min(1.0) * (1.0 - t).powf(1.5);
            // Fundamental plus a soft octave, like a music box.
            let v = (i as f32 * step).sin() + 0.3 * (i as f32 * step * 2.0).sin();
            out.push((v * envelope * 6000.0) as i16);
        }
    }
    out.into()
}

/// Plays clips one after another in 20 ms frames; the last frame of a clip is padded with
/// silence. Optionally loops what it was given (hold music).
#[derive(Debug, Default)]
pub struct Player {
    queue: VecDeque<Clip>,
    position: usize,
    looping: Option<Clip>,
}

impl Player {
    /// A silent player.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plays these clips in order, replacing whatever was playing.
    pub fn play(&mut self, clips: impl IntoIterator<Item = Clip>) {
        self.queue = clips.into_iter().filter(|c| !c.is_empty()).collect();
        self.position = 0;
        self.looping = None;
    }

    /// Loops a clip until told otherwise.
    pub fn play_loop(&mut self, clip: Clip) {
        self.queue.clear();
        self.position = 0;
        self.looping = (!clip.is_empty()).then_some(clip);
    }

    /// Stops.
    pub fn stop(&mut self) {
        self.play(std::iter::empty());
    }

    /// Whether something is playing.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty() || self.looping.is_some()
    }

    /// The next frame, or `None` when nothing (more) is playing.
    pub fn next_frame(&mut self) -> Option<[i16; FRAME_SAMPLES]> {
        let mut frame = [0i16; FRAME_SAMPLES];
        if let Some(clip) = &self.looping {
            for sample in frame.iter_mut() {
                *sample = clip[self.position % clip.len()];
                self.position = (self.position + 1) % clip.len();
            }
            return Some(frame);
        }
        let clip = self.queue.front()?.clone();
        let take = (clip.len() - self.position).min(FRAME_SAMPLES);
        frame[..take].copy_from_slice(&clip[self.position..self.position + take]);
        self.position += take;
        if self.position >= clip.len() {
            self.queue.pop_front();
            self.position = 0;
        }
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, seconds: f32, frequency: f32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("writer");
        let n = (rate as f32 * seconds) as usize;
        for i in 0..n {
            let v = ((i as f32 * 2.0 * std::f32::consts::PI * frequency / rate as f32).sin() * 16000.0) as i16;
            for _ in 0..channels {
                writer.write_sample(v).expect("sample");
            }
        }
        writer.finalize().expect("finalize");
        out.into_inner()
    }

    fn rms(samples: &[i16]) -> f64 {
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
    }

    #[test]
    fn prompts_are_resampled_to_8khz_mono_keeping_length_and_level() {
        let clip = load_wav(&wav(22050, 2, 1.0, 440.0)).expect("loads");
        assert!((clip.len() as i64 - 8000).abs() <= 1, "{}", clip.len());
        // A 440 Hz tone at 16000 peak has an RMS of about 11300.
        let level = rms(&clip[400..7600]);
        assert!((level - 11_313.0).abs() < 600.0, "{level}");
    }

    #[test]
    fn tones_above_the_new_nyquist_are_filtered_not_aliased() {
        // 6 kHz cannot exist at 8 kHz; without the low-pass it would fold to 2 kHz at full level.
        let clip = load_wav(&wav(48000, 1, 0.5, 6000.0)).expect("loads");
        assert!(rms(&clip[200..3800]) < 800.0, "{}", rms(&clip));
    }

    #[test]
    fn bad_and_oversized_files_are_refused() {
        assert!(matches!(load_wav(b"RIFF....WAVEjunk"), Err(AudioError::NotWav(_))));
        assert!(matches!(load_wav(b""), Err(AudioError::NotWav(_))));
        assert!(matches!(load_wav(&wav(8000, 1, 0.0, 440.0)), Err(AudioError::Empty)));
        // A header claiming more than ten minutes is refused before anything is decoded.
        let mut long = wav(8000, 1, 0.01, 440.0);
        let claimed = (8000u32 * 601 * 2).to_le_bytes();
        long[40..44].copy_from_slice(&claimed);
        assert!(matches!(load_wav(&long), Err(AudioError::TooLong)));
    }

    #[test]
    fn the_player_plays_in_order_pads_and_loops() {
        let mut player = Player::new();
        player.play([Clip::from(vec![1i16; 200]), Clip::from(vec![2i16; 160])]);
        let first = player.next_frame().expect("frame");
        assert!(first.iter().all(|&s| s == 1));
        let second = player.next_frame().expect("frame");
        assert_eq!((second[0], second[39], second[40]), (1, 1, 0));
        assert!(player.next_frame().expect("frame").iter().all(|&s| s == 2));
        assert!(player.next_frame().is_none());
        player.play_loop(hold_music());
        for _ in 0..1000 {
            assert!(player.next_frame().is_some());
        }
        assert!(rms(&hold_music()) > 1000.0);
        assert_eq!(tone(1000.0, 500, 8000).len(), 4000);
    }
}
