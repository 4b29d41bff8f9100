#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(0) as usize;
    switchboard_sip::hostile::stream(data.get(1..).unwrap_or_default(), split)
});
