//! A validated e-mail address, and the identity rule that makes one mailbox one account.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// An e-mail address that passed validation once, at the edge.
///
/// Like pydantic's `EmailStr`, the domain is lower-cased and the local part keeps its case:
/// `King.Arthur@CAMELOT.BT` becomes `King.Arthur@camelot.bt` (the whole address is also put
/// in Unicode NFC, which leaves ASCII unchanged).
///
/// **Identity.** Two addresses are the same account when their [`Email::normalized`] forms
/// are equal: the local part in Unicode NFC and lower case, the domain converted by IDNA
/// (UTS #46, as browsers and mail software do) to its ASCII form. So `X@Bücher.example`,
/// `x@bu\u{308}cher.example` (decomposed ü) and `x@xn--bcher-kva.example` are one account.
/// Storage enforces uniqueness on that form (`email_lower`); see `docs/security.md`.
///
/// At most [`Email::MAX_CHARS`] characters, in the stored form and in the identity form, and
/// no control characters (NUL included): nothing that a database column would refuse.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value is not a valid email address: {0}")]
pub struct InvalidEmail(pub String);

/// The identity of an address (see [`Email`]): local part NFC + lower case, domain by IDNA
/// to ASCII (falling back to NFC + lower case when IDNA refuses it). Works on any string, so
/// a login name that is not a valid address still gets a lookup key (which matches nobody).
pub fn identity(address: &str) -> String {
    let address = address.trim();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address.nfc().collect::<String>().to_lowercase();
    };
    let local = local.nfc().collect::<String>().to_lowercase();
    let domain = idna::domain_to_ascii(domain)
        .unwrap_or_else(|_| domain.nfc().collect::<String>().to_lowercase());
    format!("{local}@{domain}")
}

impl Email {
    /// The longest address accepted, in characters: 64 for the local part, `@`, 255 for the
    /// domain (RFC 5321 §4.5.3.1), which is also the size of the storage columns.
    pub const MAX_CHARS: usize = 320;

    /// Parses and validates an address (RFC 5322 addr-spec with a dotted domain).
    ///
    /// # Errors
    /// [`InvalidEmail`] with pydantic-like reasons: malformed, display-name forms, undotted
    /// or IDNA-invalid domains, control characters, longer than [`Email::MAX_CHARS`].
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let trimmed = input.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidEmail(
                "the address contains a control character".into(),
            ));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(InvalidEmail("the address is too long".into()));
        }
        let trimmed: String = trimmed.nfc().collect();
        let trimmed = trimmed.as_str();
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
        if idna::domain_to_ascii(domain).is_err() {
            return Err(InvalidEmail(
                "the part after the @-sign is not a valid internationalized domain name".into(),
            ));
        }
        let email = Self(format!("{local}@{}", domain.to_lowercase()));
        if email.normalized().chars().count() > Self::MAX_CHARS {
            return Err(InvalidEmail("the address is too long".into()));
        }
        Ok(email)
    }

    /// The address as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity used for uniqueness and lookups ([`identity`]): equal for two spellings
    /// of one mailbox (letter case, Unicode composition, Unicode or punycode domain).
    pub fn normalized(&self) -> String {
        identity(&self.0)
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
    fn one_mailbox_one_identity() {
        let forms = [
            "x@bücher.example",
            "x@xn--bcher-kva.example",
            "X@BÜCHER.example",
            "x@bu\u{308}cher.example",
            "x@XN--BCHER-KVA.EXAMPLE",
        ];
        let keys: Vec<String> = forms
            .iter()
            .map(|f| Email::parse(f).unwrap().normalized())
            .collect();
        assert!(
            keys.iter().all(|k| k == "x@xn--bcher-kva.example"),
            "{keys:?}"
        );
        // The local part: NFC and case, not more (dots and plus tags are the domain's business).
        let composed = Email::parse("jos\u{e9}@example.org").unwrap();
        let decomposed = Email::parse("jose\u{301}@example.org").unwrap();
        assert_eq!(composed.normalized(), decomposed.normalized());
        assert_eq!(decomposed.as_str(), "jos\u{e9}@example.org");
        assert_ne!(
            Email::parse("a.b@example.org").unwrap().normalized(),
            Email::parse("ab@example.org").unwrap().normalized()
        );
        // The stored form keeps the Unicode domain, lower-cased, as pydantic does.
        assert_eq!(
            Email::parse("X@BÜCHER.example").unwrap().as_str(),
            "X@bücher.example"
        );
        // Raw login names get the same key.
        assert_eq!(identity(" X@Bücher.Example "), "x@xn--bcher-kva.example");
        assert_eq!(identity("no-at-sign"), "no-at-sign");
    }

    #[test]
    fn refuses_what_storage_would_refuse() {
        assert!(Email::parse("a\0b@example.org").is_err());
        assert!(Email::parse("a@exa\u{0}mple.org").is_err());
        let long_local = format!("{}@example.org", "a".repeat(330));
        assert!(Email::parse(&long_local).is_err());
        // 320 characters in Unicode but longer once the domain is in punycode.
        let label = "ü".repeat(60);
        let domain = format!("{label}.{label}.{label}.{label}.{label}.example");
        let addr = format!("x@{domain}");
        assert!(addr.chars().count() <= 320);
        assert!(Email::parse(&addr).is_err());
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
