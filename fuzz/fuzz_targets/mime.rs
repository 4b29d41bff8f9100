//! libFuzzer target: `cargo +nightly fuzz run mime`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_channels::hostile::mime(data);
});
