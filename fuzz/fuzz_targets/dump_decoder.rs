//! Arbitrary bytes, split arbitrarily, through `DumpDecoder` (the
//! `lru_crawler metadump` reply reader): see `ringcache_fuzz::check_dump`
//! for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringcache_fuzz::check_dump(data);
});
