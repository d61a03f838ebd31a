//! libFuzzer entry point; the checks live in `switchboard_fuzz::envelope`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::envelope(data));
