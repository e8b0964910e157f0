//! memcached 1.6's text-protocol authentication (`-Y` on the server),
//! client side: on every new connection, before any request, the client
//! sends
//!
//! ```text
//! set auth 0 0 <len>\r\n<user> <password>\r\n
//! ```
//!
//! and expects `STORED`. memcached answers `CLIENT_ERROR authentication
//! failure` to wrong credentials and `CLIENT_ERROR bad authentication
//! token format` to a payload without two words: both fail the connect
//! with [`Error::Client`] (a configuration problem, not a node failure).

use std::fmt;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;

/// A user name and password for memcached's `-Y` authentication. Neither
/// may contain a space, `\r` or `\n` (memcached splits the payload on
/// spaces). `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// Credentials for `user`. Checked when the client is built: neither
    /// may be empty or hold a space, `\r`, `\n` or NUL byte (memcached
    /// could never match them).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    /// # Errors
    ///
    /// [`Error::Config`] for credentials memcached could never match.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad =
            |s: &str| s.is_empty() || s.bytes().any(|b| matches!(b, b' ' | b'\r' | b'\n' | 0));
        if bad(&self.user) || bad(&self.password) {
            return Err(Error::Config(
                "credentials must be non-empty, without spaces or line breaks".into(),
            ));
        }
        Ok(())
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Longest reply line we wait for.
const MAX_REPLY: usize = 1024;

/// Sends the authentication `set` and reads its one-line reply.
pub(crate) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credentials: &Credentials,
    address: &str,
) -> Result<(), Error> {
    let payload = format!("{} {}", credentials.user, credentials.password);
    let request = format!("set auth 0 0 {}\r\n{payload}\r\n", payload.len());
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| Error::io(address, e))?;
    let mut buf = BytesMut::with_capacity(128);
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            return match line.as_str() {
                "STORED" if end + 2 == buf.len() => Ok(()),
                "STORED" => Err(Error::protocol(
                    address,
                    "data after the authentication reply",
                )),
                _ => {
                    // Warn: requests failing meanwhile only say the node
                    // is down.
                    tracing::warn!(node = address, user = %credentials.user, reply = %line, "authentication refused");
                    Err(Error::Client(format!(
                        "{address} refused the credentials of {:?}: {line}",
                        credentials.user
                    )))
                }
            };
        }
        if buf.len() > MAX_REPLY {
            return Err(Error::protocol(address, "over-long authentication reply"));
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::io(address, e))?;
        if n == 0 {
            return Err(Error::protocol(
                address,
                "closed before answering the authentication request",
            ));
        }
    }
}
