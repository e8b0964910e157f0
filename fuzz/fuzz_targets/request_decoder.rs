//! Arbitrary bytes, split arbitrarily, through `RequestDecoder`: see
//! `ringcache_fuzz::check_requests` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringcache_fuzz::check_requests(data);
});
