//! The meta commands `mg ms md ma me` (`mn` is answered in `exec.rs`).
//!
//! Until they are implemented, each answers `ERROR`, memcached's reply to a
//! command it does not know.

use ringcache_protocol::{MetaArithmetic, MetaDebug, MetaDelete, MetaGet, MetaSet, Response};

use super::Node;

pub(super) async fn get(_node: &Node, _req: &MetaGet) -> Response {
    Response::Error
}

pub(super) async fn set(_node: &Node, _req: &MetaSet) -> Response {
    Response::Error
}

pub(super) async fn delete(_node: &Node, _req: &MetaDelete) -> Response {
    Response::Error
}

pub(super) async fn arithmetic(_node: &Node, _req: &MetaArithmetic) -> Response {
    Response::Error
}

pub(super) async fn debug(_node: &Node, _req: &MetaDebug) -> Response {
    Response::Error
}
