//! libFuzzer target: see `props::route_expr`.
#![no_main]

mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::route_expr(data));
