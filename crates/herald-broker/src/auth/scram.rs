//! SCRAM-SHA-256 and SCRAM-SHA-512, server side (RFC 5802, RFC 7677): client-first, server-first,
//! client-final, server-final, and the stored credentials (salt, iterations, StoredKey, ServerKey).
//!
//! Pure: no sockets, no clock; the server nonce is passed in so that the RFC's test vector checks the
//! whole exchange. Channel binding is not supported (gs2 flag `p=` is refused; `n` and `y` are fine),
//! and SCRAM extensions (Kafka's `tokenauth`) are ignored. Not here: which user exists (`users.rs`),
//! Kafka framing (`api/sasl_authenticate.rs`).
//!
//! Main types: [`ScramMechanism`], [`ScramCredential`], [`ScramServer`], [`ScramError`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The fewest PBKDF2 iterations a credential may use (RFC 7677 asks for at least 4096).
pub const ITERATIONS_MIN: u32 = 4096;
/// The most PBKDF2 iterations a stored credential may ask for (bounds the work per login).
pub const ITERATIONS_MAX: u32 = 1_000_000;
/// Longest client message accepted (a username, a nonce and a proof fit in far less).
pub const CLIENT_MESSAGE_BYTES_MAX: usize = 4096;

/// The hash a SCRAM mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
            let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, parts),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC as the PRF and one output block.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut u = self.hmac(password, &[salt, &1u32.to_be_bytes()]);
        let mut result = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &[&u]);
            for (r, x) in result.iter_mut().zip(&u) {
                *r ^= x;
            }
        }
        result
    }
}

/// What the server stores for one user and mechanism: never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramCredential {
    /// Derives the stored credential from a password.
    pub fn derive(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        Self::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The stored credential from an already salted password (what AlterUserScramCredentials
    /// carries, KIP-554: the password itself never reaches the broker).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = mechanism.hmac(salted, &[b"Client Key"]);
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, &[b"Server Key"]),
        }
    }

    /// Whether `password` is this credential's password (used by PLAIN, which stores the same
    /// derived keys); compares in constant time.
    pub fn verifies(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let candidate = Self::derive(mechanism, password, &self.salt, self.iterations);
        constant_time_eq(&candidate.stored_key, &self.stored_key)
    }
}

/// Why a SCRAM exchange failed; every variant fails authentication and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingUnsupported,
    #[error("SCRAM nonce does not match")]
    NonceMismatch,
    #[error("SCRAM channel binding data does not match")]
    ChannelBindingMismatch,
    #[error("invalid credentials")]
    InvalidProof,
}

/// The parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The gs2 header (`n,,`), echoed base64-encoded in client-final's `c=`.
    pub gs2_header: String,
    /// The user name, with `=2C` and `=3D` decoded.
    pub username: String,
    pub client_nonce: String,
    /// client-first without the gs2 header: part of AuthMessage.
    pub bare: String,
}

/// Parses client-first-message: `gs2-header client-first-message-bare`.
pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, ScramError> {
    if message.len() > CLIENT_MESSAGE_BYTES_MAX {
        return Err(ScramError::Malformed("client-first too long"));
    }
    let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let mut parts = text.splitn(3, ',');
    let flag = parts.next().unwrap_or_default();
    let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    let bare = parts
        .next()
        .ok_or(ScramError::Malformed("no client-first-bare"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
        _ => return Err(ScramError::Malformed("bad gs2 flag")),
    }
    if !authzid.is_empty() && !authzid.starts_with("a=") {
        return Err(ScramError::Malformed("bad authzid"));
    }
    let mut username = None;
    let mut client_nonce = None;
    for attribute in bare.split(',') {
        if let Some(name) = attribute.strip_prefix("n=") {
            username = Some(decode_saslname(name)?);
        } else if let Some(nonce) = attribute.strip_prefix("r=") {
            client_nonce = Some(nonce.to_string());
        } else if attribute.starts_with("m=") {
            return Err(ScramError::Malformed("mandatory extension"));
        }
    }
    let username = username.ok_or(ScramError::Malformed("no user name"))?;
    let client_nonce = client_nonce
        .filter(|n| !n.is_empty())
        .ok_or(ScramError::Malformed("no nonce"))?;
    Ok(ClientFirst {
        gs2_header: format!("{flag},{authzid},"),
        username,
        client_nonce,
        bare: bare.to_string(),
    })
}

fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad user name escape")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty user name"));
    }
    Ok(out)
}

/// A SCRAM exchange after server-first, waiting for client-final.
#[derive(Debug, Clone)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    credential: ScramCredential,
    client_first: ClientFirst,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// Answers client-first with server-first (`r=<nonce>,s=<salt>,i=<iterations>`).
    pub fn start(
        mechanism: ScramMechanism,
        credential: ScramCredential,
        client_first: ClientFirst,
        server_nonce: &str,
    ) -> (Self, String) {
        let nonce = format!("{}{}", client_first.client_nonce, server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let server = Self {
            mechanism,
            credential,
            client_first,
            server_first: server_first.clone(),
            nonce,
        };
        (server, server_first)
    }

    /// Checks client-final (`c=...,r=...,p=<proof>`) and returns server-final (`v=<signature>`).
    pub fn finish(&self, client_final: &[u8]) -> Result<String, ScramError> {
        if client_final.len() > CLIENT_MESSAGE_BYTES_MAX {
            return Err(ScramError::Malformed("client-final too long"));
        }
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for attribute in without_proof.split(',') {
            if let Some(c) = attribute.strip_prefix("c=") {
                binding = Some(c);
            } else if let Some(r) = attribute.strip_prefix("r=") {
                nonce = Some(r);
            }
        }
        let expected_binding = BASE64.encode(self.client_first.gs2_header.as_bytes());
        if binding != Some(expected_binding.as_str()) {
            return Err(ScramError::ChannelBindingMismatch);
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(ScramError::NonceMismatch);
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first.bare, self.server_first, without_proof
        );
        let m = self.mechanism;
        let client_signature = m.hmac(&self.credential.stored_key, &[auth_message.as_bytes()]);
        if proof.len() != client_signature.len() {
            return Err(ScramError::InvalidProof);
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !constant_time_eq(&m.hash(&client_key), &self.credential.stored_key) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = m.hmac(&self.credential.server_key, &[auth_message.as_bytes()]);
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The authenticated user name (valid once `finish` succeeded).
    pub fn username(&self) -> &str {
        &self.client_first.username
    }
}

/// Compares without an early exit, so timing does not tell how many bytes matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rfc7677_server() -> (ScramServer, String) {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::derive(ScramMechanism::Sha256, "pencil", &salt, 4096);
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        ScramServer::start(
            ScramMechanism::Sha256,
            credential,
            first,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
    }

    // The RFC 7677 SCRAM-SHA-256 exchange: our server-first and server-final match the RFC's bytes.
    #[test]
    fn rfc7677_test_vector() {
        let (server, server_first) = rfc7677_server();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.finish(client_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(server.username(), "user");
    }

    // A wrong proof, a changed nonce or a changed binding fails instead of authenticating.
    #[test]
    fn tampered_client_final_fails() {
        let (server, _) = rfc7677_server();
        let wrong_proof = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(server.finish(wrong_proof), Err(ScramError::InvalidProof));
        let wrong_nonce =
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(server.finish(wrong_nonce), Err(ScramError::NonceMismatch));
        let wrong_binding = b"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.finish(wrong_binding),
            Err(ScramError::ChannelBindingMismatch)
        );
        assert!(server.finish(b"\xff\xfe").is_err());
        assert!(server.finish(b"c=biws").is_err());
    }

    // Client-first parsing decodes escaped names, keeps authzid out of the bare part, refuses junk.
    #[test]
    fn client_first_parsing() {
        let first = parse_client_first(b"n,a=admin,n=al=2Cice=3D,r=abc,tokenauth=true").unwrap();
        assert_eq!(first.username, "al,ice=");
        assert_eq!(first.client_nonce, "abc");
        assert_eq!(first.gs2_header, "n,a=admin,");
        assert_eq!(first.bare, "n=al=2Cice=3D,r=abc,tokenauth=true");
        for bad in [
            &b""[..],
            b"n,,",
            b"x,,n=a,r=b",
            b"p=tls-unique,,n=a,r=b",
            b"n,,n=a",
            b"n,,r=b",
            b"n,,n=a=ZZ,r=b",
            b"n,,n=,r=b",
            b"n,,n=a,r=b,m=ext",
            b"\xff,,n=a,r=b",
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?} parsed");
        }
    }

    // A credential verifies its own password and no other (what PLAIN relies on).
    #[test]
    fn credential_verifies_password() {
        let credential = ScramCredential::derive(ScramMechanism::Sha512, "s3cret", b"salt", 4096);
        assert!(credential.verifies(ScramMechanism::Sha512, "s3cret"));
        assert!(!credential.verifies(ScramMechanism::Sha512, "s3cret!"));
    }
}
