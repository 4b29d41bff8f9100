//! Converts WAV files to 8 kHz 16-bit mono with the edge's resampler: `x.raw.wav` → `x.wav`.
//! Used by `media-edge/edge/prompts/generate.sh`.

use std::process::ExitCode;

fn main() -> ExitCode {
    for path in std::env::args().skip(1) {
        let result = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            let clip = switchboard_media::audio::load_wav(&bytes).map_err(|e| e.to_string())?;
            // Trim espeak's leading and trailing silence (keeping 20 ms) so words run together
            // when a number is read.
            let loud = |s: &&i16| s.unsigned_abs() > 200;
            let first = clip.iter().position(|s| loud(&s)).unwrap_or(0).saturating_sub(160);
            let last = clip.iter().rposition(|s| loud(&s)).map_or(clip.len(), |i| (i + 160).min(clip.len()));
            let clip = &clip[first..last.max(first)];
            let out = path.trim_end_matches(".raw.wav").to_owned() + ".wav";
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut writer = hound::WavWriter::create(&out, spec).map_err(|e| e.to_string())?;
            for &s in clip.iter() {
                writer.write_sample(s).map_err(|e| e.to_string())?;
            }
            writer.finalize().map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
