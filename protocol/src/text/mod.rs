//! The text protocol's lexical layer: line framing, memcached's tokenizer
//! and its lenient number parsing, and allocation-free integer formatting.

pub(crate) mod number;
pub(crate) mod tokens;
pub(crate) mod write;
