//! Test certificates, made at test time with rcgen in a temp dir (no
//! private key is checked in): a CA, a server certificate for
//! `127.0.0.1`/`localhost` and a client certificate, both signed by the CA,
//! plus a second CA that signed nothing here (an untrusted issuer).
//!
//! Shared by `server/tests/tls_*.rs` and `client/tests/tls_*.rs`
//! (through `#[path]`).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// PEM files of one test PKI.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    /// A client certificate signed by another CA.
    pub(crate) rogue_cert: PathBuf,
    pub(crate) rogue_key: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert, Issuer::new(params, key))
}

fn leaf(names: &[&str], cn: &str, issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

impl Pki {
    /// A fresh PKI in a new temp dir (removed on drop).
    pub(crate) fn new(tag: &str) -> Pki {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ringcache-tls-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_cert, issuer) = ca("ringcache test CA");
        let (server_cert, server_key) =
            leaf(&["127.0.0.1", "localhost"], "ringcache node", &issuer);
        let (client_cert, client_key) = leaf(&["client.test"], "ringcache client", &issuer);
        let (_, rogue_issuer) = ca("some other CA");
        let (rogue_cert, rogue_key) = leaf(&["client.test"], "rogue client", &rogue_issuer);
        Pki {
            ca: write(&dir, "ca.pem", &ca_cert.pem()),
            server_cert: write(&dir, "server.pem", &server_cert),
            server_key: write(&dir, "server.key", &server_key),
            client_cert: write(&dir, "client.pem", &client_cert),
            client_key: write(&dir, "client.key", &client_key),
            rogue_cert: write(&dir, "rogue.pem", &rogue_cert),
            rogue_key: write(&dir, "rogue.key", &rogue_key),
            dir,
        }
    }
}
