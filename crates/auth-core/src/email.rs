//! A validated e-mail address.

use std::fmt;
use std::str::FromStr;

/// An e-mail address that passed validation once, at the edge.
///
/// Like pydantic's `EmailStr`, the domain is lower-cased and the local part keeps its case:
/// `King.Arthur@CAMELOT.BT` becomes `King.Arthur@camelot.bt`. Comparisons between users'
/// addresses are case-insensitive everywhere ([`Email::normalized`]).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value is not a valid email address: {0}")]
pub struct InvalidEmail(pub String);

impl Email {
    /// Parses and validates an address (RFC 5322 addr-spec with a dotted domain).
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let trimmed = input.trim();
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|e| InvalidEmail(e.to_string()))?;
        let local = parsed.local_part();
        let domain = parsed.domain();
        // Reject display-name forms and bare hosts: an account address needs a dotted domain.
        if trimmed.contains('<') || trimmed.contains(' ') {
            return Err(InvalidEmail("display names are not allowed".into()));
        }
        if domain.starts_with('[') || !domain.contains('.') || domain.ends_with('.') {
            return Err(InvalidEmail(
                "the part after the @-sign is not valid. It should have a period.".into(),
            ));
        }
        if trimmed.len() > 320 {
            return Err(InvalidEmail("the address is too long".into()));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fully lower-cased form used for uniqueness and lookups.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// Wraps a value read back from trusted storage without re-validating it.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}

impl FromStr for Email {
    type Err = InvalidEmail;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_local_part_kept() {
        let e = Email::parse("King.Arthur@CAMELOT.BT").unwrap();
        assert_eq!(e.as_str(), "King.Arthur@camelot.bt");
        assert_eq!(e.normalized(), "king.arthur@camelot.bt");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plain",
            "a@",
            "@b.c",
            "a b@c.d",
            "a@localhost",
            "A <a@b.c>",
            "a@b.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse("admin@fractal.xy").is_ok());
    }
}
