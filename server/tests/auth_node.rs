//! memcached `-Y` authentication through the Rust client and the proxy:
//! the client authenticates every new connection; the proxy serves nothing
//! before authentication on its own listener (`--auth-file`) and
//! authenticates to its nodes (`--backend-auth-file`); with TLS on both
//! sides as well. (Wire-level replies are checked against memcached in
//! `auth_differential.rs`.)
//!
//! Servers run in-process on `127.0.0.1:0`.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod tls_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ringcache_client::{Client, Credentials, Error, TlsConfig};
use ringcache_server::auth::AuthFile;
use ringcache_server::proxy::{Proxy, ProxyArgs, ProxyConfig};
use ringcache_server::tls::{Security, ServerTls, TlsFiles, VerifyClient};
use ringcache_server::{serve_with, Node, NodeConfig, ServeConfig};
use tls_support::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const TTL: Duration = Duration::from_secs(300);
const DEADLINE: Duration = Duration::from_secs(10);

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A temp dir holding an auth file with `app:s3cret` and `ops:x:y`.
fn auth_file(tag: &str) -> (Dir, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ringcache-auth-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("auth");
    std::fs::write(&path, "app:s3cret\nops:x:y\n").unwrap();
    (Dir(dir), path)
}

/// Serves `exec` on `127.0.0.1:0` until the returned sender is dropped.
async fn serve<E: ringcache_server::Execute>(
    exec: E,
    config: ServeConfig,
) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, exec, config, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

async fn node(auth: &Path, tls: Option<ServerTls>) -> (SocketAddr, oneshot::Sender<()>) {
    let node = Node::new(NodeConfig {
        auth: Some(Arc::new(AuthFile::load(auth).unwrap())),
        tls,
        ..NodeConfig::default()
    });
    let config = node.serve_config();
    serve(node, config).await
}

/// Writes `request` on a raw connection and reads until `end`.
async fn raw(stream: &mut TcpStream, request: &[u8], end: &[u8]) -> Vec<u8> {
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while !got.ends_with(end) {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {end:?} in {:?}", String::from_utf8_lossy(&got)));
    got
}

fn builder(addr: SocketAddr) -> ringcache_client::ClientBuilder {
    Client::builder()
        .nodes([addr.to_string()])
        .connections_per_node(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_with_credentials() {
    let (_dir, file) = auth_file("client");
    let (addr, _stop) = node(&file, None).await;

    let c = builder(addr)
        .credentials("app", "s3cret")
        .build()
        .await
        .unwrap();
    c.set("a", "1", TTL).await.unwrap();
    c.set("b", "2", TTL).await.unwrap();
    assert_eq!(&c.get("a").await.unwrap().unwrap().value[..], b"1");
    assert_eq!(c.get_many(["a", "b", "c"]).await.unwrap().items.len(), 2);
    // A password holding ':' (memcached splits the file's line at the first).
    let ops = builder(addr)
        .credentials("ops", "x:y")
        .build()
        .await
        .unwrap();
    assert!(ops.get("a").await.unwrap().is_some());

    // Wrong password: the connect fails (with memcached's reply when the
    // request waited for it, else as a node down while reconnects back off).
    let wrong = builder(addr)
        .credentials("app", "nope")
        .build()
        .await
        .unwrap();
    match wrong.get("a").await {
        Err(Error::Client(message)) => {
            assert!(message.contains("authentication failure"), "{message}")
        }
        Err(Error::NodeDown { .. }) => {}
        other => panic!("expected a refused connection, got {other:?}"),
    }
    // No credentials: every command is refused.
    let none = builder(addr).build().await.unwrap();
    assert!(none.get("a").await.is_err());
    // Credentials memcached could never match are refused at build time.
    assert!(matches!(
        builder(addr).credentials("app", "two words").build().await,
        Err(Error::Config(_))
    ));
    assert!(format!("{:?}", Credentials::new("app", "s3cret")).contains("<hidden>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_with_tls_and_credentials() {
    let pki = Pki::new("auth-tls");
    let (_dir, file) = auth_file("tls");
    let tls = TlsFiles {
        cert: pki.server_cert.clone(),
        key: Some(pki.server_key.clone()),
        ca: None,
        verify: VerifyClient::None,
    }
    .acceptor()
    .unwrap();
    let (addr, _stop) = node(&file, Some(tls)).await;
    let c = builder(addr)
        .tls(TlsConfig::from_ca_file(&pki.ca).unwrap())
        .credentials("app", "s3cret")
        .build()
        .await
        .unwrap();
    c.set("k", "v", TTL).await.unwrap();
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_auth_on_listener_and_to_nodes() {
    let (_dir, file) = auth_file("proxy");
    let (node_addr, _stop_node) = node(&file, None).await;

    let mut config = ProxyConfig::with_nodes([node_addr.to_string()]);
    config.client.credentials = Some(Credentials::new("app", "s3cret"));
    config.security = Security {
        tls: None,
        auth: Some(Arc::new(AuthFile::load(&file).unwrap())),
    };
    let proxy = Proxy::start(config).await.unwrap();
    let serve_config = proxy.serve_config();
    let (proxy_addr, _stop_proxy) = serve(proxy, serve_config).await;

    // A raw client: refused until it authenticates, memcached's replies.
    let mut s = TcpStream::connect(proxy_addr).await.unwrap();
    let got = raw(&mut s, b"get k\r\n", b"\r\n").await;
    assert_eq!(got, b"CLIENT_ERROR unauthenticated\r\n");
    // A set is read as an authentication attempt (memcached ignores its key).
    let got = raw(&mut s, b"set k 0 0 1\r\nv\r\n", b"\r\n").await;
    assert_eq!(got, b"CLIENT_ERROR bad authentication token format\r\n");
    let got = raw(&mut s, b"set a 0 0 8\r\nops nope\r\n", b"\r\n").await;
    assert_eq!(got, b"CLIENT_ERROR authentication failure\r\n");
    let got = raw(&mut s, b"set a 0 0 7\r\nops x:y\r\n", b"\r\n").await;
    assert_eq!(got, b"STORED\r\n");
    let got = raw(&mut s, b"set k 0 0 1\r\nv\r\nget k\r\n", b"END\r\n").await;
    assert_eq!(got, b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");

    // The Rust client through the proxy, and the value on the node itself.
    let through = builder(proxy_addr)
        .credentials("app", "s3cret")
        .build()
        .await
        .unwrap();
    assert_eq!(&through.get("k").await.unwrap().unwrap().value[..], b"v");
    let direct = builder(node_addr)
        .credentials("app", "s3cret")
        .build()
        .await
        .unwrap();
    assert_eq!(&direct.get("k").await.unwrap().unwrap().value[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_tls_both_sides_from_flags() {
    let pki = Pki::new("proxy-tls");
    let (_dir, file) = auth_file("proxy-tls");
    // The node verifies clients: the proxy must present its certificate.
    let node_tls = TlsFiles {
        cert: pki.server_cert.clone(),
        key: Some(pki.server_key.clone()),
        ca: Some(pki.ca.clone()),
        verify: VerifyClient::Require,
    }
    .acceptor()
    .unwrap();
    let (node_addr, _stop_node) = node(&file, Some(node_tls)).await;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }
    let p = |path: &PathBuf| path.display().to_string();
    let argv = [
        "proxy".to_owned(),
        "--nodes".to_owned(),
        node_addr.to_string(),
        "-Z".to_owned(),
        "--tls-cert".to_owned(),
        p(&pki.server_cert),
        "--tls-key".to_owned(),
        p(&pki.server_key),
        "-Y".to_owned(),
        p(&file),
        "--backend-tls-ca".to_owned(),
        p(&pki.ca),
        "--backend-tls-cert".to_owned(),
        p(&pki.client_cert),
        "--backend-tls-key".to_owned(),
        p(&pki.client_key),
        "--backend-auth-file".to_owned(),
        p(&file),
    ];
    let config = Cli::try_parse_from(argv).unwrap().proxy.resolve().unwrap();
    assert!(config.security.tls.is_some() && config.security.auth.is_some());
    assert!(config.client.tls.is_some());
    assert_eq!(config.client.credentials.as_ref().unwrap().user(), "app");
    let proxy = Proxy::start(config).await.unwrap();
    let serve_config = proxy.serve_config();
    let (proxy_addr, _stop_proxy) = serve(proxy, serve_config).await;

    let c = builder(proxy_addr)
        .tls(TlsConfig::from_ca_file(&pki.ca).unwrap())
        .credentials("ops", "x:y")
        .build()
        .await
        .unwrap();
    c.set("k", "through", TTL).await.unwrap();
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"through");
    // Plain TCP to the proxy's TLS port gets no memcached reply.
    let mut plain = TcpStream::connect(proxy_addr).await.unwrap();
    plain.write_all(b"get k\r\n").await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, plain.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(!got.windows(5).any(|w| w == b"VALUE"), "{got:?}");

    // Backend flags that cannot work are refused.
    let bad = Cli::try_parse_from([
        "proxy",
        "--nodes",
        "127.0.0.1:1",
        "--backend-tls-ca",
        "/nonexistent/ca.pem",
    ])
    .unwrap()
    .proxy
    .resolve();
    assert!(bad.is_err());
}
