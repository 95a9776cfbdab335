//! SASL PLAIN (RFC 4616): one client message, `authzid NUL authcid NUL password`, checked against the
//! users file's salted credential. Not here: the credential store (`users.rs`).
//!
//! Main function: [`parse_plain`].

/// Longest PLAIN message accepted.
pub const PLAIN_MESSAGE_BYTES_MAX: usize = 1024;

/// A parsed PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: String,
}

/// Parses `[authzid] NUL authcid NUL passwd`; an authzid other than empty or the user itself is
/// refused (we do not let one user act as another).
pub fn parse_plain(message: &[u8]) -> Result<PlainCredentials, &'static str> {
    if message.len() > PLAIN_MESSAGE_BYTES_MAX {
        return Err("PLAIN message too long");
    }
    let text = std::str::from_utf8(message).map_err(|_| "PLAIN message is not UTF-8")?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("PLAIN message needs exactly two NUL separators");
    };
    if username.is_empty() || password.is_empty() {
        return Err("PLAIN user name and password must not be empty");
    }
    if !authzid.is_empty() && authzid != username {
        return Err("PLAIN authorization id differs from the user name");
    }
    Ok(PlainCredentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Well-formed messages parse; impersonation, missing parts and empty fields are refused.
    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            parse_plain(b"\0alice\0pw"),
            Ok(PlainCredentials {
                username: "alice".into(),
                password: "pw".into()
            })
        );
        assert!(parse_plain(b"alice\0alice\0pw").is_ok());
        for bad in [
            &b"bob\0alice\0pw"[..],
            b"alice\0pw",
            b"\0\0pw",
            b"\0alice\0",
            b"\0a\0b\0c",
            b"\0\xff\0pw",
        ] {
            assert!(parse_plain(bad).is_err(), "{bad:?}");
        }
    }
}
