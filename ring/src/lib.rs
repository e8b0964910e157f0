//! Placeholder: the ring helper replaces this file.
