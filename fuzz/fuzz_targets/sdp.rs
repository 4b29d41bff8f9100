#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_media::hostile::sdp_body(data));
