//! Arbitrary bytes through `parse_response` for every command kind: see
//! `ringcache_fuzz::check_responses` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringcache_fuzz::check_responses(data);
});
