//! The smallest HTTP/1.1 server that Prometheus and a browser need: one
//! `GET` (or `HEAD`) per connection, answered with `Connection: close`.
//!
//! Everything is bounded: the request head (8 KiB), the time to send it
//! and to take the reply (5 s each), and the connections served at once
//! (64; more wait for a slot). Request bodies are never read.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Deadline for reading the head and for writing the reply.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once.
pub(super) const MAX_CONNS: usize = 64;

/// What a route answers.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    pub(super) fn error(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
        }
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub(super) method: &'a str,
    /// The path, query string cut off.
    pub(super) path: &'a str,
}

/// Parses the request line of a complete head (`GET /x?y HTTP/1.1`).
pub(super) fn parse_head(head: &[u8]) -> Option<Head<'_>> {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") || parts.next().is_some() || !target.starts_with('/') {
        return None;
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Some(Head { method, path })
}

/// Reads a request head: `Ok(None)` when the peer closed first.
pub(super) async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
    }
}

/// Writes `reply` (head only for `HEAD`) and closes the write side.
pub(super) async fn write_reply(
    stream: &mut TcpStream,
    reply: &Reply,
    with_body: bool,
) -> io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(&reply.body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Head {
                method: "GET",
                path: "/metrics"
            })
        );
        assert_eq!(
            parse_head(b"HEAD /status.json?x=1 HTTP/1.0\r\n\r\n").map(|h| h.path),
            Some("/status.json")
        );
        assert_eq!(parse_head(b"GET metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse_head(b"GET / SPDY/3\r\n\r\n"), None);
        assert_eq!(parse_head(b"\xff\xfe\r\n\r\n"), None);
    }
}
