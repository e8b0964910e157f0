//! The client over TLS with credentials: connections and probes alike. A
//! TLS + `-Y` node that goes away is ejected; when it comes back on the
//! same address, the probe (TLS handshake, authentication, `version`)
//! brings it back into service.
//!
//! Nodes run in-process on `127.0.0.1:0` (the restart rebinds the port the
//! first listener got); certificates are made at test time.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod live;
#[path = "../../server/tests/tls_support/mod.rs"]
mod tls_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use live::wait_for;
use ringcache_client::{Client, NodeState, TlsConfig};
use ringcache_server::auth::AuthFile;
use ringcache_server::tls::{ServerTls, TlsFiles, VerifyClient};
use ringcache_server::{serve_with, Node, NodeConfig};
use tls_support::Pki;
use tokio::sync::oneshot;

const TTL: Duration = Duration::from_secs(300);

/// Serves a TLS + auth node on `listener` until the sender is dropped;
/// the join handle ends once the listener is closed.
fn serve(
    listener: tokio::net::TcpListener,
    tls: ServerTls,
    auth: Arc<AuthFile>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let node = Node::new(NodeConfig {
        tls: Some(tls),
        auth: Some(auth),
        ..NodeConfig::default()
    });
    let config = node.serve_config();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(listener, node, config, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn wait_state(client: &Client, want: NodeState) {
    wait_for(|| async {
        client
            .node_states()
            .iter()
            .all(|(_, s)| *s == want)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_credentials_survive_an_ejection_and_probe() {
    let pki = Pki::new("client-probe");
    let auth_path = pki.dir.join("auth");
    std::fs::write(&auth_path, "app:s3cret\n").unwrap();
    let auth = Arc::new(AuthFile::load(&auth_path).unwrap());
    let tls = TlsFiles {
        cert: pki.server_cert.clone(),
        key: Some(pki.server_key.clone()),
        ca: Some(pki.ca.clone()),
        verify: VerifyClient::Require,
    }
    .acceptor()
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, task) = serve(listener, tls.clone(), Arc::clone(&auth));

    let client = Client::builder()
        .nodes([addr.to_string()])
        .tls(
            TlsConfig::from_ca_file(&pki.ca)
                .unwrap()
                .client_cert(&pki.client_cert, &pki.client_key)
                .unwrap(),
        )
        .credentials("app", "s3cret")
        .failure_threshold(1)
        .max_ejected_share(1.0)
        .probe_interval(Duration::from_millis(20))
        .request_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    client.set("k", "v1", TTL).await.unwrap();
    assert_eq!(&client.get("k").await.unwrap().unwrap().value[..], b"v1");

    // The node goes away: requests fail, the node is ejected.
    drop(stop);
    task.await.unwrap();
    wait_for(|| async { client.get("k").await.is_err().then_some(()) }).await;
    wait_state(&client, NodeState::Ejected).await;

    // Back on the same address: the probe must handshake and authenticate.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (_stop, _task) = serve(listener, tls, auth);
    wait_state(&client, NodeState::Up).await;
    wait_for(|| async { client.set("k", "v2", TTL).await.ok() }).await;
    assert_eq!(&client.get("k").await.unwrap().unwrap().value[..], b"v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_fail_at_configuration() {
    let pki = Pki::new("client-files");
    assert!(TlsConfig::from_ca_file(pki.dir.join("missing.pem")).is_err());
    // A key is not a certificate.
    assert!(TlsConfig::from_ca_file(&pki.client_key).is_err());
    let ca = TlsConfig::from_ca_file(&pki.ca).unwrap();
    // A key that does not match the certificate.
    assert!(ca
        .clone()
        .client_cert(&pki.client_cert, &pki.server_key)
        .is_err());
    assert!(format!("{ca:?}").contains("TlsConfig"));
}
