#!/usr/bin/env bash
# Regenerates the system prompts (English) with espeak-ng, resampled to 8 kHz 16-bit mono with
# sox-free tooling: espeak-ng writes 22.05 kHz WAV; the edge resamples anything it loads, but we
# store 8 kHz so the binary stays small. Run by hand when a phrase changes; the WAVs are committed
# so building and testing never need espeak-ng.
#   apt-get install -y espeak-ng && media-edge/edge/prompts/generate.sh
set -euo pipefail
cd "$(dirname "$0")/en"
say() { espeak-ng -v en-us -s 150 -w "$1.raw.wav" "$2"; }
words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
  sixteen seventeen eighteen nineteen twenty)
for i in $(seq 0 20); do say "$i" "${words[$i]}"; done
tens=([30]=thirty [40]=forty [50]=fifty [60]=sixty [70]=seventy [80]=eighty [90]=ninety)
for t in 30 40 50 60 70 80 90; do say "$t" "${tens[$t]}"; done
say hundred "hundred"
say thousand "thousand"
say million "million"
say minus "minus"
say star "star"
say pound "pound"
say welcome "Welcome."
say goodbye "Goodbye."
say invalid "Sorry, that is not a valid option."
say please-hold "Please hold, an agent will be with you shortly."
say position "You are number"
say in-queue "in the queue."
say wait "Your estimated wait is about"
say minute "minute."
say minutes "minutes."
say less-than-a-minute "Your estimated wait is less than a minute."
say leave-message "Please leave a message after the tone. Press pound or hang up when you are done."
say closed "We are closed right now. Please call again during our opening hours."
say busy "All our agents are busy right now."
say transferring "Please hold while we transfer your call."
say thanks "Thank you for calling."
say voicemail-saved "Thank you. Your message has been saved."
# 22.05 kHz → 8 kHz with the edge's own resampler (the same code that loads tenant prompts).
cargo run -q --manifest-path ../../../../Cargo.toml -p switchboard-media --example to8k -- *.raw.wav
rm -f ./*.raw.wav
