//! `{resource: [actions]}` permissions (Jupyverse's model): all-of checks for HTTP, any-of with a
//! granted subset for WebSockets.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A set of actions per resource, e.g. `{"contents": ["read", "write"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Permissions(BTreeMap<String, BTreeSet<String>>);

/// Why a permissions value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permissions: {0}")]
pub struct InvalidPermissions(pub String);

impl Permissions {
    /// No permission at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// From `(resource, [actions])` pairs; empty names are refused.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a [&'a str])>,
    ) -> Result<Self, InvalidPermissions> {
        let mut p = Self::new();
        for (resource, actions) in pairs {
            p.insert(resource, actions)?;
        }
        Ok(p)
    }

    /// Adds actions on a resource (the resource is kept even with no action).
    pub fn insert(&mut self, resource: &str, actions: &[&str]) -> Result<(), InvalidPermissions> {
        let resource = resource.trim();
        if resource.is_empty() || actions.iter().any(|a| a.trim().is_empty()) {
            return Err(InvalidPermissions(
                "resource and action names must not be empty".into(),
            ));
        }
        self.0
            .entry(resource.to_owned())
            .or_default()
            .extend(actions.iter().map(|a| a.trim().to_owned()));
        Ok(())
    }

    /// Parses the `permissions` query parameter of Jupyverse's routes: a JSON object of string
    /// arrays, where single quotes stand for double quotes (`{'contents': ['read']}`), as
    /// Jupyverse reads it. For JSON proper (request bodies, stored values) use
    /// [`Permissions::from_json`], which keeps a `'` inside a name.
    ///
    /// # Errors
    /// Not such an object, or an empty name.
    pub fn parse_json(text: &str) -> Result<Self, InvalidPermissions> {
        Self::from_json(&text.replace('\'', "\""))
    }

    /// Parses a JSON object of string arrays (`{"contents": ["read"]}`), exactly.
    ///
    /// # Errors
    /// Not such an object, or an empty name.
    pub fn from_json(text: &str) -> Result<Self, InvalidPermissions> {
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(text).map_err(|e| {
            InvalidPermissions(format!("expected {{\"resource\": [\"action\", ...]}}: {e}"))
        })?;
        let mut p = Self::new();
        for (resource, actions) in &raw {
            let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            p.insert(resource, &actions)?;
        }
        Ok(p)
    }

    /// From `"resource:action"` strings (an OIDC claim); malformed entries are skipped.
    pub fn from_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Self::new();
        for s in scopes {
            if let Some((r, a)) = s.split_once(':') {
                let _ = p.insert(r, &[a]);
            }
        }
        p
    }

    /// Adds everything of `other` (a user's and their groups' permissions make one union).
    pub fn merge(&mut self, other: &Permissions) {
        for (r, actions) in &other.0 {
            self.0
                .entry(r.clone())
                .or_default()
                .extend(actions.iter().cloned());
        }
    }

    /// Whether `action` on `resource` is held.
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.0.get(resource).is_some_and(|a| a.contains(action))
    }

    /// Whether every requested action is held (the HTTP rule).
    pub fn contains_all(&self, required: &Permissions) -> bool {
        required
            .iter()
            .all(|(r, actions)| actions.iter().all(|a| self.allows(r, a)))
    }

    /// The requested actions that are held, per requested resource the holder has at all
    /// (Jupyverse's `checked_permissions`: resources the holder lacks are left out).
    pub fn granted(&self, requested: &Permissions) -> Permissions {
        let mut out = BTreeMap::new();
        for (r, actions) in &requested.0 {
            if let Some(held) = self.0.get(r) {
                out.insert(r.clone(), actions.intersection(held).cloned().collect());
            }
        }
        Permissions(out)
    }

    /// Whether at least one action is present.
    pub fn any_action(&self) -> bool {
        self.0.values().any(|a| !a.is_empty())
    }

    /// The resources and their actions.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &BTreeSet<String>)> {
        self.0.iter()
    }

    /// Whether there is no resource at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a principal holds: everything (superusers, the no-auth user) or a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Every permission.
    All,
    /// These permissions.
    Only(Permissions),
}

/// The outcome of a WebSocket authorisation (Jupyverse's `checked_permissions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSocketGrant {
    /// No permission was asked: no restriction.
    Unrestricted,
    /// The subset of the requested permissions the user holds (at least one action).
    Granted(Permissions),
}

impl Grant {
    /// All-of: every requested action is held.
    pub fn allows_all(&self, required: &Permissions) -> bool {
        match self {
            Grant::All => true,
            Grant::Only(p) => p.contains_all(required),
        }
    }

    /// Any-of: `None` when nothing requested is held; the granted subset otherwise.
    pub fn websocket(&self, requested: Option<&Permissions>) -> Option<WebSocketGrant> {
        let Some(requested) = requested else {
            return Some(WebSocketGrant::Unrestricted);
        };
        let granted = match self {
            Grant::All => requested.clone(),
            Grant::Only(p) => p.granted(requested),
        };
        granted
            .any_action()
            .then_some(WebSocketGrant::Granted(granted))
    }

    /// The requested permissions that are held (for `/api/me`).
    pub fn granted(&self, requested: &Permissions) -> Permissions {
        match self {
            Grant::All => requested.clone(),
            Grant::Only(p) => p.granted(requested),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Permissions {
        Permissions::parse_json(json).unwrap()
    }

    #[test]
    fn all_of_and_any_of() {
        let held = p(r#"{"contents": ["read"], "kernels": ["read", "execute"]}"#);
        let g = Grant::Only(held.clone());
        assert!(g.allows_all(&p(r#"{"contents": ["read"]}"#)));
        assert!(!g.allows_all(&p(r#"{"contents": ["read", "write"]}"#)));
        assert!(g.allows_all(&Permissions::new()));
        assert_eq!(
            g.websocket(Some(&p(
                r#"{"contents": ["write"], "kernels": ["execute", "write"], "yjs": ["read"]}"#
            ))),
            Some(WebSocketGrant::Granted(p(
                r#"{"contents": [], "kernels": ["execute"]}"#
            )))
        );
        assert_eq!(g.websocket(Some(&p(r#"{"contents": ["write"]}"#))), None);
        assert_eq!(g.websocket(None), Some(WebSocketGrant::Unrestricted));
        assert_eq!(
            Grant::All.granted(&p(r#"{"a": ["b"]}"#)),
            p(r#"{"a": ["b"]}"#)
        );
    }

    #[test]
    fn parsing_merging_and_scopes() {
        assert_eq!(p("{'contents': ['read']}"), p(r#"{"contents": ["read"]}"#));
        assert!(Permissions::parse_json(r#"{"contents": "read"}"#).is_err());
        assert!(Permissions::parse_json(r#"{"": ["read"]}"#).is_err());
        assert!(Permissions::parse_json("[1]").is_err());
        // JSON proper keeps a quote inside a name; only the query form reads ' as ".
        let quoted = Permissions::from_json(r#"{"O'Brien": ["read','admin"]}"#).unwrap();
        assert!(quoted.allows("O'Brien", "read','admin"));
        assert!(!quoted.allows("O'Brien", "admin"));
        let mut a = p(r#"{"contents": ["read"]}"#);
        a.merge(&p(r#"{"contents": ["write"], "kernels": ["read"]}"#));
        assert_eq!(
            a,
            p(r#"{"contents": ["read", "write"], "kernels": ["read"]}"#)
        );
        assert_eq!(
            Permissions::from_scopes([
                "contents:read",
                "kernels:execute",
                "bogus",
                "contents:write"
            ]),
            p(r#"{"contents": ["read", "write"], "kernels": ["execute"]}"#)
        );
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"contents":["read","write"],"kernels":["read"]}"#
        );
    }
}
