//! One client connection: the only place that reads or writes a
//! client's stream, plain TCP or TLS ([`Stream`]: one loop for both).
//!
//! ```text
//!   socket ──read──▶ rbuf (BytesMut, ≤ Limits::max_frame)
//!                     │ decoder.decode() while complete frames remain,
//!                     │ at most MAX_BATCH per round
//!                     ▼
//!                exec.execute(request).await ──▶ Response
//!                (a window of up to Execute::WINDOW requests side by side)
//!                     │ unless request.suppresses(&response)
//!                     ▼
//!                   wbuf (BytesMut) ──one write per batch──▶ socket
//! ```
//!
//! - The read buffer holds at most one frame (the decoder refuses over-long
//!   lines and discards oversized data blocks without buffering them), so a
//!   client cannot make the node buffer without bound.
//! - Requests run one at a time for a node (`Execute::WINDOW` = 1). For
//!   the proxy, a window of pipelined requests that name distinct keys runs
//!   side by side (each waits on a backend); replies are still encoded in
//!   request order.
//! - Replies are encoded into one write buffer and written once per batch.
//!   A batch ends when no complete frame is left, after [`MAX_BATCH`]
//!   requests (then the task yields, so one pipelining client cannot starve
//!   the others: memcached's `reqs_per_event`), or when the write buffer
//!   passes [`WRITE_BOUNDARY`].
//! - We do not read while a write is pending: a client that never reads
//!   its replies stalls only its own connection, with at most one batch of
//!   replies buffered.
//! - Rejections that memcached answers with a closed connection, `quit`,
//!   and `shutdown` flush the replies so far and close.
//! - On shutdown the current batch is finished and written; the connection
//!   ends at its next read, closing without a reset (write side first, then
//!   the client's further input read and dropped for up to a second), so
//!   no reply already written is lost.
//! - With an auth file (`-Y`), input goes through the [`auth::Gate`]
//!   instead of the decoder until the connection has authenticated.

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::join_all;
use ringcache_protocol::{
    encode_response, Command, Reason, Request, RequestDecoder, Response, Value,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use twox_hash::XxHash3_64;

use crate::auth;
use crate::exec::Execute;
use crate::listener::{Activity, ConnStats};
use crate::store::now_unix;
use crate::ServeConfig;

/// Requests executed before the replies are written and the task yields.
pub(crate) const MAX_BATCH: usize = 64;

/// Write-buffer size past which a batch is written early.
pub(crate) const WRITE_BOUNDARY: usize = 64 * 1024;

/// Initial read-buffer capacity.
const READ_CHUNK: usize = 16 * 1024;

/// A client connection's byte stream: plain TCP, or TLS over TCP.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// One read into `rbuf`'s spare capacity (which the caller keeps
    /// non-zero); `Ok(0)` at end of input.
    fn read_chunk<'a>(
        &'a mut self,
        rbuf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

impl Stream for TcpStream {
    fn read_chunk<'a>(
        &'a mut self,
        rbuf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        read_once(self, rbuf)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn read_chunk<'a>(
        &'a mut self,
        rbuf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        // rustls decrypts from its own buffer: the readiness trick of
        // `read_once` does not apply.
        self.read_buf(rbuf)
    }
}

/// Serves one connection until the peer closes, a closing request, an I/O
/// error, the idle timeout, or shutdown.
///
/// # Errors
///
/// I/O errors on the socket; they end only this connection.
pub(crate) async fn run<E: Execute, S: Stream>(
    mut stream: S,
    exec: &E,
    config: &ServeConfig,
    shutdown: CancellationToken,
    activity: &Activity,
) -> io::Result<()> {
    let limits = config.limits;
    let max_frame = limits.max_frame();
    let mut decoder = RequestDecoder::new(limits);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
    let stats = &config.conn_stats;
    let mut authenticated = config.auth.is_none();
    let mut gate = auth::Gate::default();
    // The current window, its replies and its keys' hashes (reused), and a
    // request decoded but left for the next window.
    let mut window: Vec<Request> = Vec::with_capacity(E::WINDOW.min(MAX_BATCH));
    let mut responses: Vec<Response> = Vec::with_capacity(E::WINDOW.min(MAX_BATCH));
    let mut window_keys: Vec<u64> = Vec::new();
    let mut carry: Option<Request> = None;
    // One wait for shutdown for the connection's life: a new one per read
    // would register with (and leave) the token's waiter list each time.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        // Execute every complete frame, up to MAX_BATCH or WRITE_BOUNDARY.
        let mut executed = 0;
        let mut close = false;
        let mut drained = false;
        // End of the replies memcached would already have sent (see
        // `culls_pending_replies`).
        let mut sent_mark = 0;
        activity.busy.store(true, Ordering::Relaxed);
        'batch: while executed < MAX_BATCH && wbuf.len() < WRITE_BOUNDARY {
            if let (false, Some(file)) = (authenticated, &config.auth) {
                match gate.step(&mut rbuf, file, max_frame) {
                    None => {
                        drained = true;
                        break;
                    }
                    Some(auth::Step::Close) => {
                        close = true;
                        break;
                    }
                    Some(auth::Step::Reply(line, ok)) => {
                        // Until it authenticates, a connection's replies of
                        // one batch overwrite each other (auth.rs).
                        wbuf.clear();
                        wbuf.extend_from_slice(line);
                        authenticated = ok;
                        executed += 1;
                        continue;
                    }
                }
            }
            // Gather a window: one request for a node; for the proxy, as
            // many pipelined requests as run safely side by side.
            window.clear();
            window_keys.clear();
            let room = E::WINDOW.min(MAX_BATCH - executed);
            while window.len() < room {
                let request = match carry.take() {
                    Some(request) => request,
                    None => match decoder.decode(&mut rbuf) {
                        Ok(Some(request)) => request,
                        Ok(None) => {
                            drained = true;
                            break;
                        }
                        Err(error) => {
                            tracing::debug!(%error, "unrecoverable input; closing");
                            close = true;
                            break;
                        }
                    },
                };
                let joined = E::WINDOW > 1 && joins_window(&mut window_keys, &request);
                if !joined && !window.is_empty() {
                    carry = Some(request);
                    break;
                }
                window.push(request);
                if !joined {
                    break;
                }
            }
            if window.is_empty() {
                break;
            }
            executed += window.len();
            responses.clear();
            if let [request] = window.as_slice() {
                responses.push(exec.execute(request).await);
            } else {
                responses.extend(join_all(window.iter().map(|r| exec.execute(r))).await);
            }
            for (request, response) in window.iter().zip(responses.drain(..)) {
                if culls_pending_replies(request) {
                    wbuf.truncate(sent_mark);
                }
                if !request.suppresses(&response) {
                    match &response {
                        Response::Values(values) if reply_len(values) > WRITE_BOUNDARY => {
                            write_values(&mut stream, &mut wbuf, values, stats).await?;
                        }
                        _ => encode_response(&response, &mut wbuf),
                    }
                }
                if matches!(
                    request,
                    Request::Get(_) | Request::Gets(_) | Request::Gat(_) | Request::Gats(_)
                ) {
                    // memcached transmits right after a get (conn_mwrite).
                    sent_mark = wbuf.len();
                }
                let is_shutdown = matches!(request, Request::Shutdown(_));
                if request.closes_connection() || (is_shutdown && response == Response::NoReply) {
                    close = true;
                    break 'batch;
                }
            }
            if drained || close {
                break;
            }
        }
        activity.busy.store(false, Ordering::Relaxed);
        if executed > 0 {
            activity.last_cmd.store(now_unix(), Ordering::Relaxed);
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            stats.bytes_written.add(wbuf.len() as u64);
            wbuf.clear();
        }
        if wbuf.capacity() > 4 * WRITE_BOUNDARY {
            // A large reply grew the buffer; do not keep it per connection.
            wbuf = BytesMut::with_capacity(READ_CHUNK);
        }
        if close {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        if !drained {
            // Complete frames may be waiting: let other connections run
            // first, then go on without reading.
            stats.yields.incr();
            tokio::task::yield_now().await;
            continue;
        }
        // Need more input. The decoder keeps a frame under max_frame; refuse
        // to grow beyond it should that ever not hold.
        if rbuf.len() > max_frame {
            tracing::warn!(
                len = rbuf.len(),
                "read buffer past the frame bound; closing"
            );
            return Ok(());
        }
        if rbuf.capacity() - rbuf.len() < 1024 {
            let want = (rbuf.len() + READ_CHUNK).min(max_frame + READ_CHUNK);
            rbuf.reserve(want - rbuf.len());
        }
        let read = tokio::select! {
            biased;
            () = &mut cancelled => {
                close_after_shutdown(&mut stream, &mut rbuf).await;
                return Ok(());
            }
            read = read_with_idle(&mut stream, &mut rbuf, config.idle_timeout) => read?,
        };
        match read {
            Some(0) => return Ok(()),
            Some(n) => stats.bytes_read.add(n as u64),
            None => {
                tracing::debug!("idle timeout; closing");
                return Ok(());
            }
        }
    }
}

/// Keys a window may name in all: past that, a request waits for the next
/// window (bounds the conflict check below).
const WINDOW_KEYS: usize = 128;

/// Whether `request` may run side by side with the window whose keys'
/// hashes are `seen`, adding its own when it may: it names at least one
/// key, none that the window (or the request itself) already names, and
/// the window stays within [`WINDOW_KEYS`]. A request that names no key
/// (admin verbs, `mn`, rejections) always runs alone, so its reply sees
/// every request before it done. Equal hashes of different keys only end
/// a window early.
fn joins_window(seen: &mut Vec<u64>, request: &Request) -> bool {
    let keys = request.keys();
    if keys.is_empty() || seen.len() + keys.len() > WINDOW_KEYS {
        return false;
    }
    let before = seen.len();
    for key in keys {
        let hash = XxHash3_64::oneshot(key);
        if seen.contains(&hash) {
            seen.truncate(before);
            return false;
        }
        seen.push(hash);
    }
    true
}

/// How long a connection closed by shutdown keeps reading (and dropping)
/// what its client still sends.
const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

/// Closes a connection for shutdown without losing replies already
/// written: sends FIN first, then reads and drops the client's input until
/// it closes too (or [`SHUTDOWN_LINGER`] passes), and only then lets the
/// socket go. Dropping a socket whose receive queue holds unread requests
/// makes the kernel send a reset instead of a FIN, and a reset makes the
/// client's kernel throw away replies it has received but the client has
/// not read yet: executed sets whose `STORED` never arrives.
async fn close_after_shutdown<S: Stream>(stream: &mut S, rbuf: &mut BytesMut) {
    let _ = stream.shutdown().await;
    let drain = async {
        loop {
            rbuf.clear();
            if rbuf.capacity() == 0 {
                rbuf.reserve(READ_CHUNK);
            }
            match stream.read_chunk(rbuf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_LINGER, drain).await;
}

/// Roughly how many bytes a get reply takes on the wire.
fn reply_len(values: &[Value]) -> usize {
    values
        .iter()
        .map(|v| v.key.len() + v.data.len() + 48)
        .sum::<usize>()
}

/// Writes a large get reply value by value, flushing whenever the write
/// buffer passes [`WRITE_BOUNDARY`], so a multi-get of many large items
/// never builds one huge buffer (the values themselves are shared with the
/// store, not copied). Each value is encoded by the protocol crate as a
/// one-value reply whose `END` is cut off; the `END` comes once, last.
async fn write_values<S: Stream>(
    stream: &mut S,
    wbuf: &mut BytesMut,
    values: &[Value],
    stats: &ConnStats,
) -> io::Result<()> {
    const END: &[u8] = b"END\r\n";
    for value in values {
        encode_response(&Response::Values(vec![value.clone()]), wbuf);
        wbuf.truncate(wbuf.len() - END.len());
        if wbuf.len() >= WRITE_BOUNDARY {
            stream.write_all(wbuf).await?;
            stats.bytes_written.add(wbuf.len() as u64);
            wbuf.clear();
        }
    }
    encode_response(&Response::Values(Vec::new()), wbuf);
    Ok(())
}

/// memcached 1.6.18 quirk: a `get`/`gets`/`gat`/`gats` line with a key
/// over 250 bytes drops every reply queued but not yet sent on the
/// connection (`conn_release_items` in `process_get_command`), then answers
/// `CLIENT_ERROR bad command line format`. memcached transmits after every
/// successful get, so what it drops is the replies queued since the last
/// get of the same read; ours are those since the last get of the batch.
fn culls_pending_replies(request: &Request) -> bool {
    match request {
        Request::Invalid(r) => {
            r.reason == Reason::BadCommandLineFormat
                && matches!(
                    r.command,
                    Some(Command::Get | Command::Gets | Command::Gat | Command::Gats)
                )
        }
        _ => false,
    }
}

/// Reads once, or `None` when the idle timeout passes first.
async fn read_with_idle<S: Stream>(
    stream: &mut S,
    rbuf: &mut BytesMut,
    idle: Option<Duration>,
) -> io::Result<Option<usize>> {
    match idle {
        None => stream.read_chunk(rbuf).await.map(Some),
        Some(idle) => match tokio::time::timeout(idle, stream.read_chunk(rbuf)).await {
            Ok(read) => read.map(Some),
            Err(_) => Ok(None),
        },
    }
}

/// One read into `rbuf`'s spare capacity (which the caller keeps non-zero).
///
/// A plain `read_buf` leaves the socket marked readable after a short
/// read, so the next read costs a `recv` that only returns `EAGAIN`: one
/// wasted syscall per request for a client that waits for each reply. A
/// short read means the socket is drained, so we clear tokio's readiness
/// right away instead. This is race-free: `try_io` clears only the
/// readiness it observed *before* the read, so data that arrives after it
/// raises a new event (memcached likewise stops reading after a short
/// read).
async fn read_once(stream: &TcpStream, rbuf: &mut BytesMut) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        let spare = rbuf.capacity() - rbuf.len();
        let mut got = None;
        let result = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(rbuf)?;
            got = Some(n);
            if n > 0 && n < spare {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        match (got, result) {
            (Some(n), _) => return Ok(n),
            (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (None, Err(e)) => return Err(e),
            (None, Ok(())) => continue,
        }
    }
}
