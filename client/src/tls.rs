//! TLS to the nodes (rustls, `ring` provider) and the dialer every
//! connection and probe goes through: TCP connect, TLS handshake, then
//! memcached's text authentication ([`crate::auth`]), all within
//! [`Config::connect_timeout`](crate::Config::connect_timeout).
//!
//! ```no_run
//! use ringcache_client::{Client, TlsConfig};
//!
//! # async fn run() -> Result<(), ringcache_client::Error> {
//! let tls = TlsConfig::from_ca_file("ca.pem")?
//!     .client_cert("client.pem", "client.key")? // only if the nodes ask for one
//!     .server_name("cache.internal"); // default: the host part of each node's name
//! let client = Client::builder()
//!     .nodes(["10.0.0.1:11211", "10.0.0.2:11211"])
//!     .tls(tls)
//!     .credentials("app", "s3cret") // memcached's -Y
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::auth::{self, Credentials};
use crate::error::Error;

/// TLS settings for the connections to the nodes: the CA roots that sign
/// the nodes' certificates, an optional client certificate, and an
/// optional server name. Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    roots: Arc<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
    connector: TlsConnector,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("client_cert", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

fn config_error(what: &str, path: &Path, e: impl fmt::Display) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}

fn read_certs(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(what, path, e))?;
    if certs.is_empty() {
        return Err(config_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

impl TlsConfig {
    /// Trusts the CA certificates of a PEM file (and nothing else: no
    /// system roots).
    ///
    /// # Errors
    ///
    /// [`Error::Config`]: the file cannot be read or holds no usable CA
    /// certificate.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsConfig, Error> {
        let path = path.as_ref();
        let mut roots = RootCertStore::empty();
        for cert in read_certs("CA file", path)? {
            roots
                .add(cert)
                .map_err(|e| config_error("CA file", path, e))?;
        }
        TlsConfig::build(Arc::new(roots), None, None)
    }

    /// Presents this certificate chain (PEM, leaf first) and private key
    /// (PEM) to nodes that verify clients (`ssl_verify_mode`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`]: unreadable files, or a key rustls refuses.
    pub fn client_cert(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, Error> {
        let certs = read_certs("certificate", cert.as_ref())?;
        let key = PrivateKeyDer::from_pem_file(key.as_ref())
            .map_err(|e| config_error("private key", key.as_ref(), e))?;
        TlsConfig::build(self.roots, Some((certs, Arc::new(key))), self.server_name)
    }

    /// Checks every node's certificate against this name instead of the
    /// host part of the node's `host:port`.
    pub fn server_name(mut self, name: impl Into<String>) -> TlsConfig {
        self.server_name = Some(name.into());
        self
    }

    fn build(
        roots: Arc<RootCertStore>,
        identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
        server_name: Option<String>,
    ) -> Result<TlsConfig, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .with_root_certificates(Arc::clone(&roots));
        let config = match &identity {
            None => builder.with_no_client_auth(),
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| Error::Config(format!("TLS client certificate: {e}")))?,
        };
        Ok(TlsConfig {
            roots,
            identity,
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    fn name_for(&self, address: &str) -> Result<ServerName<'static>, Error> {
        let name = match &self.server_name {
            Some(name) => name.as_str(),
            None => host_of(address),
        };
        ServerName::try_from(name.to_owned())
            .map_err(|e| Error::Config(format!("TLS server name {name:?}: {e}")))
    }
}

/// The host part of `host:port` or `[v6]:port`.
fn host_of(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A connection to a node: plain TCP or TLS over TCP.
#[derive(Debug)]
pub(crate) enum NodeStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for NodeStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NodeStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            NodeStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NodeStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NodeStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            NodeStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NodeStream::Plain(s) => Pin::new(s).poll_flush(cx),
            NodeStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NodeStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            NodeStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How to open a connection to a node: timeout, TLS, credentials.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) credentials: Option<Credentials>,
}

impl Dialer {
    pub(crate) fn new(config: &crate::Config) -> Dialer {
        Dialer {
            connect_timeout: config.connect_timeout,
            tls: config.tls.clone(),
            credentials: config.credentials.clone(),
        }
    }

    /// TCP connect, TLS handshake and authentication, within the connect
    /// timeout.
    pub(crate) async fn dial(&self, address: &str) -> Result<NodeStream, Error> {
        tokio::time::timeout(self.connect_timeout, self.dial_inner(address))
            .await
            .map_err(|_| Error::timeout(address))?
    }

    async fn dial_inner(&self, address: &str) -> Result<NodeStream, Error> {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| Error::io(address, e))?;
        // Requests are batched by the connection task already; Nagle would
        // only add latency to the last write of a batch.
        tcp.set_nodelay(true).map_err(|e| Error::io(address, e))?;
        let mut stream = match &self.tls {
            None => NodeStream::Plain(tcp),
            Some(tls) => {
                let name = tls.name_for(address)?;
                let stream = tls
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Error::io(address, e))?;
                NodeStream::Tls(Box::new(stream))
            }
        };
        if let Some(credentials) = &self.credentials {
            auth::authenticate(&mut stream, credentials, address).await?;
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_addresses() {
        assert_eq!(host_of("cache.internal:11211"), "cache.internal");
        assert_eq!(host_of("127.0.0.1:11211"), "127.0.0.1");
        assert_eq!(host_of("[::1]:11211"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
