//! TLS on the listener: a `tokio_rustls::TlsAcceptor` from a PEM certificate chain and a PEM private
//! key (PKCS#8, PKCS#1 or SEC1), with rustls' safe defaults (TLS 1.2 and 1.3, ring crypto), no client
//! certificates. Not here: the accept itself (`server.rs`, which does the handshake in the
//! connection's task under the request read timeout).
//!
//! Main function: [`acceptor`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::BrokerError;

fn invalid(path: &Path, reason: impl std::fmt::Display) -> BrokerError {
    BrokerError::InvalidSecurityFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Builds the acceptor; unreadable or mismatched files fail the broker's start.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, BrokerError> {
    let certs = load_certs(&config.cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&config.key_path)
        .map_err(|e| invalid(&config.key_path, format!("no private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&config.cert_path, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&config.cert_path, format!("certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(server_config)))
}

fn load_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, BrokerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The stream a connection is served on: the socket itself without TLS, else the socket after a
/// TLS handshake that must finish within `timeout`. `None` (logged) when the handshake fails, e.g. a
/// plaintext Kafka client on a TLS port.
pub async fn accept(
    acceptor: Option<&TlsAcceptor>,
    socket: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Option<Box<dyn crate::frame::ByteStream>> {
    let Some(acceptor) = acceptor else {
        return Some(Box::new(socket));
    };
    match tokio::time::timeout(timeout, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(%peer, timeout_ms = timeout.as_millis(), "TLS handshake timed out");
            None
        }
    }
}
