//! TLS for the node's and the proxy's listeners (rustls, `ring` provider).
//!
//! Off by default. memcached 1.6's flags turn it on:
//!
//! ```text
//! ringcache node -Z -o ssl_chain_cert=server.pem,ssl_key=server.key
//! ringcache node -Z -o ssl_chain_cert=server.pem,ssl_key=server.key,ssl_ca_cert=ca.pem,ssl_verify_mode=2
//! ringcache node --tls-cert server.pem --tls-key server.key --tls-ca ca.pem --tls-verify-client
//! ```
//!
//! `ssl_verify_mode` means what it means to memcached: 0 no client
//! certificate is asked for; 1 one is asked for and checked against
//! `ssl_ca_cert` if sent; 2 (and 3, memcached's "once") one is required.
//! memcached's other `ssl_*` options (ciphers, key format, session cache,
//! kernel TLS, minimum version) are not supported: rustls offers TLS 1.2
//! and 1.3 with its safe defaults.
//!
//! The handshake runs in the connection's own task under
//! [`HANDSHAKE_TIMEOUT`]; a failed or late handshake ends that connection
//! only, is logged at debug level and counted
//! ([`crate::ConnStats::tls_handshake_errors`], memcached's
//! `ssl_handshake_errors`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// memcached's `ssl_verify_mode`: whether clients present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyClient {
    /// 0: no client certificate is asked for.
    #[default]
    None,
    /// 1: asked for; checked against the CA file when sent.
    Request,
    /// 2 (and 3): required and checked against the CA file.
    Require,
}

impl VerifyClient {
    /// memcached's numbers: 0, 1, 2 and 3 (3, "once", is 2 for us: every
    /// connection is a new session).
    pub fn from_mode(mode: u8) -> Option<VerifyClient> {
        match mode {
            0 => Some(VerifyClient::None),
            1 => Some(VerifyClient::Request),
            2 | 3 => Some(VerifyClient::Require),
            _ => None,
        }
    }

    /// The number `stats settings` shows.
    pub fn mode(self) -> u8 {
        match self {
            VerifyClient::None => 0,
            VerifyClient::Request => 1,
            VerifyClient::Require => 2,
        }
    }
}

/// Where a listener's certificate, key and client CA come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first (`ssl_chain_cert`, `--tls-cert`).
    pub cert: PathBuf,
    /// PEM private key (`ssl_key`, `--tls-key`); PKCS#8, PKCS#1 or SEC1.
    /// When empty, the key is read from the certificate file.
    pub key: Option<PathBuf>,
    /// PEM CA certificates that sign client certificates (`ssl_ca_cert`,
    /// `--tls-ca`).
    pub ca: Option<PathBuf>,
    /// Client certificates (`ssl_verify_mode`, `--tls-verify-client`).
    pub verify: VerifyClient,
}

/// A TLS setting that cannot be used; the message is what the operator
/// sees.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM item.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which file (certificate, key, CA).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The files do not make a configuration (key does not match, ...).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads every certificate of a PEM file.
///
/// # Errors
///
/// The file cannot be read or holds no certificate.
pub fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
///
/// # Errors
///
/// The file cannot be read or holds no key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error("private key", path, e))
}

/// Reads CA certificates into a root store.
///
/// # Errors
///
/// The file cannot be read, or a certificate in it is not a usable CA.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("CA file", path)? {
        roots
            .add(cert)
            .map_err(|e| file_error("CA file", path, e))?;
    }
    Ok(roots)
}

/// The rustls provider every ringcache TLS endpoint uses.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsFiles {
    /// Reads the files and builds the listener's acceptor.
    ///
    /// # Errors
    ///
    /// Unreadable files, a key that does not match the certificate, or a
    /// client verification mode without a CA file.
    pub fn acceptor(&self) -> Result<ServerTls, TlsError> {
        let certs = load_certs("certificate", &self.cert)?;
        let key = load_key(self.key.as_deref().unwrap_or(&self.cert))?;
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match (self.verify, &self.ca) {
            (VerifyClient::None, _) => builder.with_no_client_auth(),
            (_, None) => {
                return Err(TlsError::Config(
                    "verifying client certificates needs a CA file (ssl_ca_cert, --tls-ca)".into(),
                ))
            }
            (verify, Some(ca)) => {
                let roots = Arc::new(load_roots(ca)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if verify == VerifyClient::Request {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            verify: self.verify,
        })
    }
}

/// A listener's TLS setup, ready to accept: [`TlsFiles::acceptor`].
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    verify: VerifyClient,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Whether and how client certificates are checked.
    pub fn verify(&self) -> VerifyClient {
        self.verify
    }
}

/// Runs the server side of the handshake on an accepted connection, within
/// [`HANDSHAKE_TIMEOUT`].
///
/// # Errors
///
/// The handshake failed (not TLS, bad or missing client certificate...)
/// or timed out.
pub(crate) async fn handshake(
    tls: &ServerTls,
    stream: TcpStream,
) -> io::Result<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// The listener's security flags, shared by `ringcache node` and
/// `ringcache proxy`: memcached's `-Z` and `-Y`, and long TLS flags.
/// memcached's `-o ssl_*` options are read by the node's `-o` and passed
/// to [`SecurityArgs::resolve`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecurityArgs {
    /// Enable TLS (memcached's -Z); needs a certificate (-o
    /// ssl_chain_cert=FILE or --tls-cert FILE).
    #[arg(short = 'Z', long = "enable-ssl", action = clap::ArgAction::SetTrue)]
    pub enable_ssl: bool,
    /// PEM certificate chain; enables TLS (as -Z -o ssl_chain_cert=FILE).
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (as -o ssl_key=FILE); default: in the certificate file.
    #[arg(long = "tls-key", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates for client certificates (as -o ssl_ca_cert=FILE).
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Require a client certificate signed by --tls-ca (as -o ssl_verify_mode=2).
    #[arg(long = "tls-verify-client", action = clap::ArgAction::SetTrue)]
    pub tls_verify_client: bool,
    /// memcached's -Y: text-protocol authentication, `user:password` lines.
    #[arg(short = 'Y', long = "auth-file", value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
}

/// What [`SecurityArgs::resolve`] gives: TLS and the auth file, each off
/// unless asked for.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The listener's TLS.
    pub tls: Option<ServerTls>,
    /// The auth file.
    pub auth: Option<Arc<crate::auth::AuthFile>>,
}

impl SecurityArgs {
    /// Reads the files named by the flags and by memcached's `-o ssl_*`
    /// options (`ssl_opts`: name and value pairs, from the node's `-o`).
    ///
    /// # Errors
    ///
    /// The operator's message: an `ssl_*` option or `--tls-*` flag that
    /// does not make a TLS setup, an unreadable or malformed file.
    pub fn resolve(&self, ssl_opts: &[(String, String)]) -> Result<Security, String> {
        let mut cert = self.tls_cert.clone();
        let mut key = self.tls_key.clone();
        let mut ca = self.tls_ca.clone();
        let mut verify = if self.tls_verify_client {
            VerifyClient::Require
        } else {
            VerifyClient::None
        };
        for (name, value) in ssl_opts {
            match name.as_str() {
                "ssl_chain_cert" => cert = Some(PathBuf::from(value)),
                "ssl_key" => key = Some(PathBuf::from(value)),
                "ssl_ca_cert" => ca = Some(PathBuf::from(value)),
                "ssl_verify_mode" => {
                    verify = value
                        .parse()
                        .ok()
                        .and_then(VerifyClient::from_mode)
                        .ok_or_else(|| {
                            format!("invalid ssl_verify_mode: {value:?} (0, 1, 2 or 3)")
                        })?;
                }
                other => return Err(format!("unsupported TLS option {other:?}")),
            }
        }
        let enabled = self.enable_ssl || self.tls_cert.is_some();
        let tls = match (enabled, cert) {
            (false, None) if key.is_none() && ca.is_none() && verify == VerifyClient::None => None,
            (false, _) => {
                // memcached ignores ssl_* options without -Z; we refuse,
                // so no one believes TLS is on when it is not.
                return Err("TLS options given without -Z (--enable-ssl)".to_owned());
            }
            (true, None) => {
                return Err(
                    "-Z needs a certificate: -o ssl_chain_cert=FILE or --tls-cert FILE".to_owned(),
                )
            }
            (true, Some(cert)) => Some(
                TlsFiles {
                    cert,
                    key,
                    ca,
                    verify,
                }
                .acceptor()
                .map_err(|e| e.to_string())?,
            ),
        };
        let auth = match &self.auth_file {
            None => None,
            Some(path) => Some(Arc::new(
                crate::auth::AuthFile::load(path).map_err(|e| e.to_string())?,
            )),
        };
        Ok(Security { tls, auth })
    }
}

/// The proxy's flags for its connections to the nodes: TLS and
/// memcached `-Y` credentials.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackendArgs {
    /// Connect to the nodes over TLS, trusting the CA certificates of this
    /// PEM file.
    #[arg(long = "backend-tls-ca", value_name = "FILE")]
    pub backend_tls_ca: Option<PathBuf>,
    /// Check the nodes' certificates against this name (default: the host
    /// part of each node's address).
    #[arg(
        long = "backend-tls-name",
        value_name = "NAME",
        requires = "backend_tls_ca"
    )]
    pub backend_tls_name: Option<String>,
    /// Client certificate (PEM) for nodes that verify clients.
    #[arg(long = "backend-tls-cert", value_name = "FILE", requires_all = ["backend_tls_ca", "backend_tls_key"])]
    pub backend_tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long = "backend-tls-key",
        value_name = "FILE",
        requires = "backend_tls_cert"
    )]
    pub backend_tls_key: Option<PathBuf>,
    /// Authenticate to the nodes (their -Y) with the first `user:password`
    /// line of this file (the format of -Y files).
    #[arg(long = "backend-auth-file", value_name = "FILE")]
    pub backend_auth_file: Option<PathBuf>,
}

impl BackendArgs {
    /// Sets the client's TLS and credentials from the flags.
    ///
    /// # Errors
    ///
    /// The operator's message: unreadable or unusable files.
    pub fn apply(&self, client: &mut ringcache_client::Config) -> Result<(), String> {
        if let Some(ca) = &self.backend_tls_ca {
            let mut tls =
                ringcache_client::TlsConfig::from_ca_file(ca).map_err(|e| e.to_string())?;
            if let (Some(cert), Some(key)) = (&self.backend_tls_cert, &self.backend_tls_key) {
                tls = tls.client_cert(cert, key).map_err(|e| e.to_string())?;
            }
            if let Some(name) = &self.backend_tls_name {
                tls = tls.server_name(name.clone());
            }
            client.tls = Some(tls);
        }
        if let Some(path) = &self.backend_auth_file {
            let file = crate::auth::AuthFile::load(path).map_err(|e| e.to_string())?;
            let (user, pass) = file
                .first()
                .ok_or_else(|| format!("{}: no user:password line", path.display()))?;
            client.credentials = Some(ringcache_client::Credentials::new(user, pass));
        }
        Ok(())
    }
}
