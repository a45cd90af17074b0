//! libFuzzer target: see `props::config`.
#![no_main]

mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::config(data));
