//! libFuzzer target: see `props::decode`.
#![no_main]

mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::decode(data));
