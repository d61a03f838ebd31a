//! libFuzzer entry point; the checks live in `switchboard_fuzz::upstream`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::upstream(data));
