//! libFuzzer target: `cargo +nightly fuzz run chat_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_channels::hostile::chat_frame(data);
});
