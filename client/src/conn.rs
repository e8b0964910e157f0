//! One pipelined TCP connection, owned by one task.
//!
//! Callers hand the task `(request, oneshot)` jobs over a bounded mpsc
//! ([`Conn::try_submit`] / [`Conn::submit`]). The task:
//!
//! - takes every job waiting in the queue (up to `max_in_flight` unanswered
//!   requests), encodes them into one write buffer and writes it: one write
//!   per batch;
//! - reads replies and hands them out in FIFO order, each parsed with the
//!   command of the request it answers ([`parse_response`]);
//! - closes the connection when the oldest unanswered request passes its
//!   deadline (a late reply would be matched to the wrong caller), when the
//!   reply stream breaks the protocol, or on I/O errors; every request in
//!   flight then fails with that error;
//! - connects at start, then again on demand with exponential backoff:
//!   while it backs off, requests fail at once with [`Error::NodeDown`].
//!
//! The task answers every request by its deadline, so callers wait on
//! their oneshot with no timer of their own (a timer per request cost more
//! than the rest of the request's bookkeeping): sent requests fail when
//! the oldest passes its deadline (above); requests that arrive while it
//! connects are held, up to `max_in_flight`, and failed at their deadlines;
//! the rest wait in the queue behind requests with earlier deadlines. The
//! one way to be answered late is to wait behind more than
//! `max_in_flight` held requests during a connect: at most the connect
//! timeout late.
//!
//! Only requests that always get exactly one reply are sent (no classic
//! `noreply`, no meta `q`): [`is_pipelinable`] guards the door.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ringcache_protocol::{encode_request, parse_response, Command, Limits, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::error::Error;
use crate::metrics::ERRORS_TOTAL;
use crate::tls::{Dialer, NodeStream};

/// Stop taking new jobs while this much is waiting to be written.
const WRITE_BUFFER_CAP: usize = 256 * 1024;
/// Read in chunks of at least this size.
const READ_CHUNK: usize = 16 * 1024;

/// The reply channel of one request.
pub(crate) type ReplyTx = oneshot::Sender<Result<Response, Error>>;

/// One request on its way to the connection task.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) request: Request,
    pub(crate) reply: ReplyTx,
    /// When the caller stops waiting: the task fails the request (and
    /// closes the connection, if it was sent) once this passes.
    pub(crate) deadline: Instant,
}

/// What every connection of a node needs to know.
#[derive(Debug)]
pub(crate) struct ConnSettings {
    pub(crate) node: String,
    /// Connect timeout, TLS and credentials.
    pub(crate) dialer: Dialer,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) reconnect_max_backoff: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) limits: Limits,
    /// `ringcache_client_in_flight{node}`, shared by the node's connections.
    pub(crate) in_flight: metrics::Gauge,
}

impl ConnSettings {
    fn count_error(&self, kind: &'static str) {
        metrics::counter!(ERRORS_TOTAL, "node" => self.node.clone(), "kind" => kind).increment(1);
    }
}

/// State shared between a [`Conn`] and its task.
#[derive(Debug, Default)]
struct Shared {
    /// Set when the node is known to be back (a probe succeeded): the next
    /// request reconnects at once instead of failing during the backoff.
    reconnect_now: AtomicBool,
}

/// The caller's side of one connection.
#[derive(Debug)]
pub(crate) struct Conn {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl Conn {
    /// Starts the connection task on `runtime`; it connects at once. The
    /// task ends when the `Conn` is dropped (after failing what it holds).
    pub(crate) fn spawn(
        settings: Arc<ConnSettings>,
        queue_depth: usize,
        runtime: &tokio::runtime::Handle,
    ) -> Conn {
        let (tx, rx) = mpsc::channel(queue_depth);
        let shared = Arc::new(Shared::default());
        runtime.spawn(run(settings, Arc::clone(&shared), rx));
        Conn { tx, shared }
    }

    /// Queues `job` if there is room; gives it back otherwise (to try the
    /// next connection: boxing it would cost an allocation per request).
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_submit(&self, job: Job) -> Result<(), Job> {
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                Err(job)
            }
        }
    }

    /// Queues `job`, waiting up to `wait` for room.
    #[allow(clippy::result_large_err)]
    pub(crate) async fn submit(&self, job: Job, wait: Duration) -> Result<(), Job> {
        match self.tx.send_timeout(job, wait).await {
            Ok(()) => Ok(()),
            Err(
                mpsc::error::SendTimeoutError::Timeout(job)
                | mpsc::error::SendTimeoutError::Closed(job),
            ) => Err(job),
        }
    }

    /// Makes the next request reconnect at once, skipping any backoff.
    pub(crate) fn reconnect_now(&self) {
        self.shared.reconnect_now.store(true, Ordering::Release);
    }
}

/// Whether the server answers `request` with exactly one reply, whatever
/// the outcome: the condition for FIFO matching. Classic `noreply`, meta
/// `q` (both may withhold replies, errors included), `quit`/`shutdown`
/// (close the connection) and refused input are not.
pub(crate) fn is_pipelinable(request: &Request) -> bool {
    use ringcache_protocol::{MetaReply, MetaStatus};
    let probe = |status| Response::Meta(MetaReply::new(status, Default::default()));
    let may_be_silent = request.suppresses(&Response::Stored)
        || request.suppresses(&Response::NotFound)
        || request.suppresses(&probe(MetaStatus::Hd))
        || request.suppresses(&probe(MetaStatus::En))
        || request.suppresses(&probe(MetaStatus::Nf));
    !may_be_silent
        && request.command().is_some()
        && !matches!(
            request,
            Request::Quit | Request::Shutdown(_) | Request::Invalid(_) | Request::TooLarge(_)
        )
}

/// A request written (or about to be) and not yet answered.
struct InFlight {
    command: Command,
    reply: ReplyTx,
    deadline: Instant,
}

/// Why a connected session ended.
enum End {
    /// Every `Conn` is gone: the task ends.
    Closed,
    /// The connection broke or was closed on purpose; reconnect on demand.
    Broken,
}

async fn run(settings: Arc<ConnSettings>, shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let mut backoff = settings.reconnect_backoff;
    // Requests taken from the queue while there is no connection.
    let mut held: VecDeque<Job> = VecDeque::new();
    let mut eager = true;
    loop {
        if !eager && held.is_empty() {
            match rx.recv().await {
                Some(job) => held.push_back(job),
                None => return,
            }
        }
        eager = false;
        let Some(connected) = connect_holding(&settings, &mut rx, &mut held).await else {
            fail_jobs(&mut held, &Error::Closed);
            return;
        };
        match connected {
            Ok(stream) => {
                backoff = settings.reconnect_backoff;
                shared.reconnect_now.store(false, Ordering::Release);
                tracing::debug!(node = %settings.node, "connected");
                match serve(&settings, stream, &mut held, &mut rx).await {
                    End::Closed => return,
                    End::Broken => continue,
                }
            }
            Err(error) => {
                tracing::debug!(node = %settings.node, %error, "connect failed");
                settings.count_error("connect");
                fail_jobs(&mut held, &error);
                while let Ok(job) = rx.try_recv() {
                    let _ = job.reply.send(Err(error.clone()));
                }
                let until = Instant::now() + backoff;
                backoff = (backoff * 2).min(settings.reconnect_max_backoff);
                loop {
                    tokio::select! {
                        job = rx.recv() => {
                            let Some(job) = job else { return };
                            if shared.reconnect_now.swap(false, Ordering::AcqRel) {
                                held.push_back(job);
                                break;
                            }
                            let _ = job.reply.send(Err(Error::NodeDown {
                                node: settings.node.clone(),
                            }));
                        }
                        () = sleep_until(until) => break,
                    }
                }
            }
        }
    }
}

/// TCP connect (TLS handshake, authentication) within the connect timeout.
/// Meanwhile, takes requests from the queue into `held` (up to
/// `max_in_flight`) and fails each one whose deadline passes: callers do
/// not time out on their own. `None` when every `Conn` is gone.
async fn connect_holding(
    settings: &ConnSettings,
    rx: &mut mpsc::Receiver<Job>,
    held: &mut VecDeque<Job>,
) -> Option<Result<NodeStream, Error>> {
    let connecting = settings.dialer.dial(&settings.node);
    tokio::pin!(connecting);
    let mut timer = DeadlineTimer::new();
    loop {
        timer.arm(held.front().map(|job| job.deadline));
        tokio::select! {
            biased;
            connected = &mut connecting => return Some(connected),
            () = timer.fired(), if timer.is_armed() => {
                let now = Instant::now();
                while held.front().is_some_and(|job| job.deadline <= now) {
                    if let Some(job) = held.pop_front() {
                        let _ = job.reply.send(Err(Error::timeout(&settings.node)));
                    }
                }
            }
            job = rx.recv(), if held.len() < settings.max_in_flight => held.push_back(job?),
        }
    }
}

/// A timer at the oldest deadline of a FIFO of requests, armed lazily: at
/// the oldest deadline when it is armed, then left alone as replies come
/// in and later requests become the oldest (registering a timer per
/// request would cost more than the rest of the request's bookkeeping).
/// It is moved only to an earlier deadline, so it never fires late; when
/// it fires early, the owner arms it again at the oldest deadline then.
struct DeadlineTimer {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
}

impl DeadlineTimer {
    fn new() -> DeadlineTimer {
        DeadlineTimer {
            sleep: Box::pin(sleep_until(Instant::now())),
            armed: None,
        }
    }

    /// Makes the timer fire by `oldest` (the oldest request's deadline).
    fn arm(&mut self, oldest: Option<Instant>) {
        if let Some(deadline) = oldest {
            if self.armed.is_none_or(|at| deadline < at) {
                self.sleep.as_mut().reset(deadline);
                self.armed = Some(deadline);
            }
        }
    }

    fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Completes when the armed time comes; the timer is then disarmed.
    async fn fired(&mut self) {
        self.sleep.as_mut().await;
        self.armed = None;
    }
}

/// Runs one connected session until it breaks or every `Conn` is dropped:
/// the same loop over plain TCP (split without a lock) and TLS.
async fn serve(
    settings: &ConnSettings,
    stream: NodeStream,
    held: &mut VecDeque<Job>,
    rx: &mut mpsc::Receiver<Job>,
) -> End {
    match stream {
        NodeStream::Plain(mut tcp) => {
            let (rd, wr) = tcp.split();
            serve_halves(settings, rd, wr, held, rx).await
        }
        NodeStream::Tls(tls) => {
            let (rd, wr) = tokio::io::split(tls);
            serve_halves(settings, rd, wr, held, rx).await
        }
    }
}

async fn serve_halves<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    settings: &ConnSettings,
    mut rd: R,
    mut wr: W,
    held: &mut VecDeque<Job>,
    rx: &mut mpsc::Receiver<Job>,
) -> End {
    let node = settings.node.as_str();
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    // `ringcache_client_in_flight{node}`: +1 when a request is encoded,
    // -1 just before its caller is answered (or failed).
    let gauge = &settings.in_flight;
    let now = Instant::now();
    for job in held.drain(..) {
        enqueue(job, now, &mut wbuf, &mut in_flight, node, gauge);
    }
    let mut timer = DeadlineTimer::new();
    loop {
        timer.arm(in_flight.front().map(|f| f.deadline));
        let can_take = in_flight.len() < settings.max_in_flight && wbuf.len() < WRITE_BUFFER_CAP;
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            // Late requests first: a connection whose oldest request
            // timed out must not take new ones. Then replies, then writes,
            // then new work.
            biased;
            () = timer.fired(), if timer.is_armed() => {
                let now = Instant::now();
                if in_flight.front().is_some_and(|f| f.deadline <= now) {
                    // The oldest request is late. Its reply may still come,
                    // and would then be taken for the next request's: the
                    // FIFO is poisoned, close the connection.
                    tracing::debug!(node, in_flight = in_flight.len(), "request timed out, closing connection");
                    fail_all(&mut in_flight, gauge, &Error::timeout(node));
                    return End::Broken;
                }
            }
            read = rd.read_buf(&mut rbuf) => match read {
                Ok(0) => {
                    settings.count_error("closed");
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed by the server",
                    );
                    fail_all(&mut in_flight, gauge, &Error::io(node, e));
                    return End::Broken;
                }
                Ok(_) => {
                    if let Err(error) = deliver(&mut rbuf, &mut in_flight, &settings.limits, node, gauge) {
                        tracing::warn!(node, %error, "closing connection");
                        fail_all(&mut in_flight, gauge, &error);
                        return End::Broken;
                    }
                }
                Err(e) => {
                    fail_all(&mut in_flight, gauge, &Error::io(node, e));
                    return End::Broken;
                }
            },
            written = wr.write_buf(&mut wbuf), if !wbuf.is_empty() => match written {
                Ok(0) => {
                    let e = std::io::Error::new(std::io::ErrorKind::WriteZero, "connection closed");
                    fail_all(&mut in_flight, gauge, &Error::io(node, e));
                    return End::Broken;
                }
                Ok(_) => {}
                Err(e) => {
                    fail_all(&mut in_flight, gauge, &Error::io(node, e));
                    return End::Broken;
                }
            },
            job = rx.recv(), if can_take => {
                let Some(job) = job else {
                    fail_all(&mut in_flight, gauge, &Error::Closed);
                    return End::Closed;
                };
                // One clock read for the whole batch.
                let now = Instant::now();
                enqueue(job, now, &mut wbuf, &mut in_flight, node, gauge);
                // Everything already queued joins the same batch (one write).
                while in_flight.len() < settings.max_in_flight && wbuf.len() < WRITE_BUFFER_CAP {
                    match rx.try_recv() {
                        Ok(job) => enqueue(job, now, &mut wbuf, &mut in_flight, node, gauge),
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// Encodes `job` into the write buffer unless its caller is gone or late
/// (at `now`).
fn enqueue(
    job: Job,
    now: Instant,
    wbuf: &mut BytesMut,
    in_flight: &mut VecDeque<InFlight>,
    node: &str,
    gauge: &metrics::Gauge,
) {
    if job.reply.is_closed() {
        return;
    }
    if job.deadline <= now {
        let _ = job.reply.send(Err(Error::timeout(node)));
        return;
    }
    let Some(command) = job.request.command() else {
        let _ = job
            .reply
            .send(Err(Error::Client("request cannot be sent".into())));
        return;
    };
    encode_request(&job.request, wbuf);
    gauge.increment(1.0);
    in_flight.push_back(InFlight {
        command,
        reply: job.reply,
        deadline: job.deadline,
    });
}

/// Hands out every complete reply in the read buffer, oldest request first.
fn deliver(
    rbuf: &mut BytesMut,
    in_flight: &mut VecDeque<InFlight>,
    limits: &Limits,
    node: &str,
    gauge: &metrics::Gauge,
) -> Result<(), Error> {
    while let Some(front) = in_flight.front() {
        match parse_response(rbuf, front.command, limits) {
            Ok(Some((response, _))) => {
                if let Some(done) = in_flight.pop_front() {
                    gauge.decrement(1.0);
                    let _ = done.reply.send(Ok(response));
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(Error::protocol(node, e.to_string())),
        }
    }
    if rbuf.is_empty() {
        Ok(())
    } else {
        Err(Error::protocol(
            node,
            "reply with no request waiting for it",
        ))
    }
}

/// Fails requests that were never sent.
fn fail_jobs(jobs: &mut VecDeque<Job>, error: &Error) {
    for job in jobs.drain(..) {
        let _ = job.reply.send(Err(error.clone()));
    }
}

fn fail_all(in_flight: &mut VecDeque<InFlight>, gauge: &metrics::Gauge, error: &Error) {
    gauge.decrement(in_flight.len() as f64);
    for f in in_flight.drain(..) {
        let _ = f.reply.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ringcache_protocol::{Delete, Get, MetaGet, MetaGetFlags};

    #[test]
    fn only_requests_with_one_reply_are_pipelined() {
        let k = || Bytes::from_static(b"k");
        assert!(is_pipelinable(&Request::Get(Get { keys: vec![k()] })));
        assert!(is_pipelinable(&Request::Version));
        assert!(is_pipelinable(&Request::MetaNoop));
        assert!(!is_pipelinable(&Request::Delete(Delete {
            key: k(),
            noreply: true
        })));
        assert!(is_pipelinable(&Request::Delete(Delete {
            key: k(),
            noreply: false
        })));
        let quiet = MetaGetFlags {
            quiet: true,
            ..MetaGetFlags::default()
        };
        assert!(!is_pipelinable(&Request::MetaGet(MetaGet {
            key: k(),
            flags: quiet
        })));
        assert!(!is_pipelinable(&Request::Quit));
    }
}
