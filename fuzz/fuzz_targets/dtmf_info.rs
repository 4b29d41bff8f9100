#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // First byte picks the content type, the rest is the body.
    let content_type = if data.first().is_some_and(|b| b % 2 == 0) { "application/dtmf-relay" } else { "application/dtmf" };
    switchboard_media::hostile::dtmf_info(content_type, data.get(1..).unwrap_or_default());
});
