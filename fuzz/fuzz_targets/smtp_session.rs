//! libFuzzer target: `cargo +nightly fuzz run smtp_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_channels::hostile::smtp_session(data);
});
