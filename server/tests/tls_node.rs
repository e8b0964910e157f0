//! TLS on a node: the Rust client and pymemcache over TLS, a plain-TCP
//! client on a TLS port, client-certificate verification, and the flag
//! forms (memcached's `-Z -o ssl_*` and the long `--tls-*`).
//!
//! Nodes run in-process on `127.0.0.1:0`; certificates are made at test
//! time (`tls_support`). Every wait is on a condition with a deadline.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod tls_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ringcache_client::{Client, TlsConfig};
use ringcache_server::tls::{ServerTls, TlsFiles, VerifyClient};
use ringcache_server::{serve_with, ConnStats, Node, NodeArgs, NodeConfig};
use tls_support::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(10);
const TTL: Duration = Duration::from_secs(300);

/// An in-process node; stops when dropped.
struct TestNode {
    addr: SocketAddr,
    stats: Arc<ConnStats>,
    _stop: oneshot::Sender<()>,
}

async fn start(config: NodeConfig) -> TestNode {
    let node = Node::new(config);
    let serve_config = node.serve_config();
    let stats = Arc::clone(&serve_config.conn_stats);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, node, serve_config, async move {
        let _ = stopped.await;
    }));
    TestNode {
        addr,
        stats,
        _stop: stop,
    }
}

fn server_tls(pki: &Pki, verify: VerifyClient) -> ServerTls {
    TlsFiles {
        cert: pki.server_cert.clone(),
        key: Some(pki.server_key.clone()),
        ca: (verify != VerifyClient::None).then(|| pki.ca.clone()),
        verify,
    }
    .acceptor()
    .unwrap()
}

async fn tls_node(pki: &Pki, verify: VerifyClient) -> TestNode {
    start(NodeConfig {
        tls: Some(server_tls(pki, verify)),
        ..NodeConfig::default()
    })
    .await
}

async fn client(addr: SocketAddr, tls: TlsConfig) -> Client {
    Client::builder()
        .nodes([addr.to_string()])
        .connections_per_node(1)
        .tls(tls)
        .build()
        .await
        .unwrap()
}

/// Waits until `cond` holds, failing at the deadline.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_over_tls() {
    let pki = Pki::new("rust");
    let node = tls_node(&pki, VerifyClient::None).await;
    let c = client(node.addr, TlsConfig::from_ca_file(&pki.ca).unwrap()).await;
    c.set("tls:a", "hello", TTL).await.unwrap();
    let item = c.get("tls:a").await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"hello");
    // A value spanning many TLS records, both ways.
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    c.set("tls:big", big.clone(), TTL).await.unwrap();
    assert_eq!(
        &c.get("tls:big").await.unwrap().unwrap().value[..],
        &big[..]
    );
    let found = c.get_many(["tls:a", "tls:big", "tls:none"]).await.unwrap();
    assert_eq!(found.items.len(), 2);
    // `localhost` is the certificate's other name.
    let by_name = client(
        node.addr,
        TlsConfig::from_ca_file(&pki.ca)
            .unwrap()
            .server_name("localhost"),
    )
    .await;
    assert!(by_name.get("tls:a").await.unwrap().is_some());
    assert_eq!(node.stats.tls_handshake_errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_or_name_is_refused_by_the_client() {
    let pki = Pki::new("wrong-ca");
    let other = Pki::new("other");
    let node = tls_node(&pki, VerifyClient::None).await;
    let c = client(node.addr, TlsConfig::from_ca_file(&other.ca).unwrap()).await;
    assert!(c.get("k").await.is_err(), "untrusted server certificate");
    let c = client(
        node.addr,
        TlsConfig::from_ca_file(&pki.ca)
            .unwrap()
            .server_name("not-the-node.test"),
    )
    .await;
    assert!(c.get("k").await.is_err(), "name not in the certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_client_on_tls_port_fails_cleanly() {
    let pki = Pki::new("plain");
    let node = tls_node(&pki, VerifyClient::None).await;
    let good = client(node.addr, TlsConfig::from_ca_file(&pki.ca).unwrap()).await;
    good.set("k", "v", TTL).await.unwrap();

    // A memcached client that does not speak TLS.
    let mut plain = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    plain
        .write_all(b"set k 0 0 1\r\nx\r\nget k\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, plain.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the node must close the connection");
    assert!(
        !got.windows(5).any(|w| w == b"VALUE" || w == b"STORE"),
        "no memcached reply in clear text: {got:?}"
    );
    let stats = Arc::clone(&node.stats);
    wait_for("the handshake error count", || {
        stats.tls_handshake_errors() == 1
    })
    .await;

    // The TLS connection opened before is unharmed, and so are new ones;
    // the plain client's set never happened.
    assert_eq!(&good.get("k").await.unwrap().unwrap().value[..], b"v");
    let fresh = client(node.addr, TlsConfig::from_ca_file(&pki.ca).unwrap()).await;
    assert_eq!(&fresh.get("k").await.unwrap().unwrap().value[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificate() {
    let pki = Pki::new("require");
    let node = tls_node(&pki, VerifyClient::Require).await;
    let ca = || TlsConfig::from_ca_file(&pki.ca).unwrap();

    let without = client(node.addr, ca()).await;
    assert!(without.set("k", "v", TTL).await.is_err(), "no certificate");
    let rogue = client(
        node.addr,
        ca().client_cert(&pki.rogue_cert, &pki.rogue_key).unwrap(),
    )
    .await;
    assert!(
        rogue.set("k", "v", TTL).await.is_err(),
        "certificate of another CA"
    );
    let stats = Arc::clone(&node.stats);
    wait_for("two refused handshakes", || {
        stats.tls_handshake_errors() >= 2
    })
    .await;

    let with = client(
        node.addr,
        ca().client_cert(&pki.client_cert, &pki.client_key).unwrap(),
    )
    .await;
    with.set("k", "v", TTL).await.unwrap();
    assert_eq!(&with.get("k").await.unwrap().unwrap().value[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_client_certificate_is_optional_but_checked() {
    let pki = Pki::new("request");
    let node = tls_node(&pki, VerifyClient::Request).await;
    let ca = || TlsConfig::from_ca_file(&pki.ca).unwrap();
    let without = client(node.addr, ca()).await;
    without.set("k", "v", TTL).await.unwrap();
    let with = client(
        node.addr,
        ca().client_cert(&pki.client_cert, &pki.client_key).unwrap(),
    )
    .await;
    assert!(with.get("k").await.unwrap().is_some());
    let rogue = client(
        node.addr,
        ca().client_cert(&pki.rogue_cert, &pki.rogue_key).unwrap(),
    )
    .await;
    assert!(
        rogue.get("k").await.is_err(),
        "a certificate sent is checked"
    );
}

fn python_check(addr: SocketAddr, args: &[&std::path::Path]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls_check.py");
    std::process::Command::new("python3")
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymemcache_over_tls() {
    let pki = Pki::new("pymemcache");
    let node = tls_node(&pki, VerifyClient::None).await;
    let (addr, ca) = (node.addr, pki.ca.clone());
    let out = tokio::task::spawn_blocking(move || python_check(addr, &[&ca]))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "tls_check.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // With client verification on: pymemcache presents its certificate.
    let strict = tls_node(&pki, VerifyClient::Require).await;
    let (addr, ca, cert, key) = (
        strict.addr,
        pki.ca.clone(),
        pki.client_cert.clone(),
        pki.client_key.clone(),
    );
    let out = tokio::task::spawn_blocking(move || python_check(addr, &[&ca, &cert, &key]))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "tls_check.py with a client certificate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

fn resolve(args: &[String]) -> Result<NodeConfig, String> {
    let argv = std::iter::once("node".to_owned()).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    cli.node.resolve().map_err(|e| e.to_string())
}

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_and_long_flag_forms() {
    let pki = Pki::new("flags");
    let (cert, key, ca) = (
        pki.server_cert.display().to_string(),
        pki.server_key.display().to_string(),
        pki.ca.display().to_string(),
    );
    // Off by default.
    let config = resolve(&[]).unwrap();
    assert!(config.tls.is_none() && config.auth.is_none());

    // memcached's form, with client verification.
    let opts = format!("ssl_chain_cert={cert},ssl_key={key},ssl_ca_cert={ca},ssl_verify_mode=2");
    let config = resolve(&s(&["-Z", "-o", &opts])).unwrap();
    assert_eq!(config.tls.as_ref().unwrap().verify(), VerifyClient::Require);
    let node = start(config).await;
    let c = client(
        node.addr,
        TlsConfig::from_ca_file(&pki.ca)
            .unwrap()
            .client_cert(&pki.client_cert, &pki.client_key)
            .unwrap(),
    )
    .await;
    c.set("k", "v", TTL).await.unwrap();

    // The long form; `--tls-cert` alone turns TLS on.
    let config = resolve(&s(&["--tls-cert", &cert, "--tls-key", &key])).unwrap();
    assert_eq!(config.tls.as_ref().unwrap().verify(), VerifyClient::None);
    let node = start(config).await;
    let c = client(node.addr, TlsConfig::from_ca_file(&pki.ca).unwrap()).await;
    c.set("k", "v", TTL).await.unwrap();
    let config = resolve(&s(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-ca",
        &ca,
        "--tls-verify-client",
    ]))
    .unwrap();
    assert_eq!(config.tls.unwrap().verify(), VerifyClient::Require);

    // Refused: -Z without a certificate, ssl_* without -Z, verification
    // without a CA, a missing file, a bad mode.
    let refused = |args: Vec<String>, needle: &str| {
        let err = resolve(&args)
            .err()
            .unwrap_or_else(|| panic!("{args:?} accepted"));
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    refused(s(&["-Z"]), "needs a certificate");
    refused(s(&["-o", &format!("ssl_chain_cert={cert}")]), "without -Z");
    refused(
        s(&[
            "-Z",
            "-o",
            &format!("ssl_chain_cert={cert},ssl_key={key},ssl_verify_mode=2"),
        ]),
        "CA file",
    );
    refused(
        s(&["--tls-cert", "/nonexistent/cert.pem"]),
        "/nonexistent/cert.pem",
    );
    refused(
        s(&[
            "-Z",
            "-o",
            &format!("ssl_chain_cert={cert},ssl_key={key},ssl_verify_mode=7"),
        ]),
        "ssl_verify_mode",
    );
    refused(
        s(&[
            "--tls-cert",
            &cert,
            "--tls-key",
            &pki.client_key.display().to_string(),
        ]),
        "TLS configuration",
    );
}

#[test]
fn binary_refuses_tls_flags_it_cannot_use() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .args(["node", "-p", "1", "-Z"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a certificate"), "{stderr}");
}
