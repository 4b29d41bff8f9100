//! libFuzzer target: `cargo +nightly fuzz run sms_form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_channels::hostile::sms_form(data);
});
