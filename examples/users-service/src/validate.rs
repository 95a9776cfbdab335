//! Input checks for user fields: what makes a name or an email acceptable. Pure functions.

/// Longest accepted name, in characters.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest accepted email address, in bytes (RFC 5321's path limit).
pub const EMAIL_BYTES_MAX: usize = 254;

/// The trimmed name, or why it is refused.
pub fn name(raw: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw else {
        return Err("name is required".into());
    };
    let name = raw.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > NAME_CHARS_MAX {
        return Err(format!("name is longer than {NAME_CHARS_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// The trimmed, lower-cased email, or why it is refused: one `@`, a non-empty local part, a
/// domain with a dot that neither starts nor ends it, no whitespace or control characters.
pub fn email(raw: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw else {
        return Err("email is required".into());
    };
    let email = raw.trim().to_lowercase();
    let invalid = || Err(format!("email {:?} is not a valid address", raw.trim()));
    if email.is_empty() || email.len() > EMAIL_BYTES_MAX {
        return invalid();
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid();
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid();
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return invalid();
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the email rule accepts ordinary addresses and refuses each malformed shape.
    #[test]
    fn emails() {
        assert_eq!(
            email(Some(" Ada@Example.COM ")),
            Ok("ada@example.com".into())
        );
        for bad in [
            "", "ada", "@x.io", "ada@", "ada@io", "ada@.io", "ada@io.", "a b@x.io", "a@b@c.io",
            "a@x..io",
        ] {
            assert!(email(Some(bad)).is_err(), "{bad:?} accepted");
        }
        assert!(email(None).is_err());
    }

    // Proves names are trimmed and empty, missing or oversized names are refused.
    #[test]
    fn names() {
        assert_eq!(name(Some("  Ada ")), Ok("Ada".into()));
        assert!(name(Some("   ")).is_err());
        assert!(name(None).is_err());
        assert!(name(Some(&"x".repeat(NAME_CHARS_MAX + 1))).is_err());
    }
}
