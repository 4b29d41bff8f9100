//! The call recorder: a stereo 16-bit 8 kHz WAV, caller on the left, agent on the right, one
//! 20 ms frame per tick of the bridge's clock, silence where a side sent nothing, so the file's
//! length is the call's length. The header is rewritten every second, so what was written
//! stays a playable file even if the process dies mid-call.

use std::io::{Seek, Write};

use thiserror::Error;

use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Why a recording failed.
#[derive(Debug, Error)]
pub enum RecordingError {
    /// Writing failed (disk full, ...).
    #[error("recording write failed: {0}")]
    Write(#[from] hound::Error),
}

/// What a finished recording holds, for the contact and for checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Frames written (20 ms each).
    pub frames: u64,
    /// Frames in which the caller's channel had sound.
    pub caller_frames_with_sound: u64,
    /// Frames in which the agent's channel had sound.
    pub agent_frames_with_sound: u64,
}

impl RecordingSummary {
    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.frames * crate::FRAME_MS
    }
}

/// A recording in progress.
pub struct StereoRecorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    summary: RecordingSummary,
}

/// Peak above which a frame counts as having sound (about -40 dBFS).
const SOUND_THRESHOLD: i16 = 300;

impl<W: Write + Seek> std::fmt::Debug for StereoRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoRecorder").field("summary", &self.summary).finish_non_exhaustive()
    }
}

impl<W: Write + Seek> StereoRecorder<W> {
    /// Starts a recording into `out`.
    pub fn new(out: W) -> Result<Self, RecordingError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(StereoRecorder { writer: hound::WavWriter::new(out, spec)?, summary: RecordingSummary::default() })
    }

    /// Writes one frame of both sides (`None`: that side was silent).
    pub fn write_frame(&mut self, caller: Option<&[i16]>, agent: Option<&[i16]>) -> Result<(), RecordingError> {
        let side = |s: Option<&[i16]>, i: usize| s.and_then(|s| s.get(i).copied()).unwrap_or(0);
        for i in 0..FRAME_SAMPLES {
            self.writer.write_sample(side(caller, i))?;
            self.writer.write_sample(side(agent, i))?;
        }
        let loud = |s: Option<&[i16]>| s.is_some_and(|s| s.iter().any(|v| v.unsigned_abs() > SOUND_THRESHOLD as u16));
        self.summary.frames += 1;
        self.summary.caller_frames_with_sound += u64::from(loud(caller));
        self.summary.agent_frames_with_sound += u64::from(loud(agent));
        if self.summary.frames.is_multiple_of(50) {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// What has been written so far.
    pub fn summary(&self) -> RecordingSummary {
        self.summary
    }

    /// Finishes the file.
    pub fn finish(self) -> Result<RecordingSummary, RecordingError> {
        self.writer.finalize()?;
        Ok(self.summary)
    }
}

/// Reads back a recording file (one left by a process that died mid-call: its header counts
/// the frames flushed so far): what it holds.
pub fn summarize(wav: &[u8]) -> Result<RecordingSummary, RecordingError> {
    let reader = hound::WavReader::new(std::io::Cursor::new(wav))?;
    let spec = reader.spec();
    if spec.channels != 2 || spec.sample_rate != SAMPLE_RATE || spec.bits_per_sample != 16 {
        return Err(RecordingError::Write(hound::Error::Unsupported));
    }
    let mut summary = RecordingSummary::default();
    let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
    for frame in samples.chunks(FRAME_SAMPLES * 2) {
        let loud = |side: usize| frame.iter().skip(side).step_by(2).any(|v| v.unsigned_abs() > SOUND_THRESHOLD as u16);
        summary.frames += 1;
        summary.caller_frames_with_sound += u64::from(loud(0));
        summary.agent_frames_with_sound += u64::from(loud(1));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn caller_left_agent_right_and_the_length_of_the_call() {
        let mut out = Cursor::new(Vec::new());
        let mut recorder = StereoRecorder::new(&mut out).expect("starts");
        let loud = vec![5000i16; FRAME_SAMPLES];
        for i in 0..100 {
            let caller = (i < 60).then_some(loud.as_slice());
            let agent = (i >= 40).then_some(loud.as_slice());
            recorder.write_frame(caller, agent).expect("writes");
        }
        let summary = recorder.finish().expect("finishes");
        assert_eq!(summary.duration_ms(), 2000);
        assert_eq!((summary.caller_frames_with_sound, summary.agent_frames_with_sound), (60, 60));
        let reader = hound::WavReader::new(Cursor::new(out.into_inner())).expect("valid wav");
        assert_eq!((reader.spec().channels, reader.spec().sample_rate, reader.duration()), (2, 8000, 16000));
        let samples: Vec<i16> = reader.into_samples().collect::<Result<_, _>>().expect("samples");
        // First frame: caller only (left = even index).
        assert_eq!((samples[0], samples[1]), (5000, 0));
        // Last frame: agent only.
        let last = samples.len() - 2;
        assert_eq!((samples[last], samples[last + 1]), (0, 5000));
    }

    #[test]
    fn a_recording_cut_off_midway_is_still_a_readable_file() {
        let mut out = Cursor::new(Vec::new());
        {
            let mut recorder = StereoRecorder::new(&mut out).expect("starts");
            for _ in 0..120 {
                recorder.write_frame(Some(&[100; FRAME_SAMPLES]), None).expect("writes");
            }
            // Dropped without finish (a crash): hound finalises on drop, and the periodic
            // flush already left a valid header for the first 100 frames.
        }
        let wav = out.into_inner();
        let reader = hound::WavReader::new(Cursor::new(wav.clone())).expect("valid wav");
        assert!(reader.duration() >= 16_000);
        let summary = summarize(&wav).expect("readable");
        assert!(
            summary.frames >= 100 && summary.caller_frames_with_sound == 0,
            "{summary:?} (100 is below the threshold)"
        );
    }
}
