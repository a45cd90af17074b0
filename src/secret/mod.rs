//! Secrets (bot tokens, webhook URLs, signing keys): a string that never prints itself, the
//! redaction every sink applies to the error text it hands back, and where a secret comes from
//! ([`SecretRef`], resolved at start).

mod reference;

pub use reference::{AwsSecrets, SecretRef};

use serde::Deserialize;
use std::fmt;

/// A secret value. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the value,
/// and only code that sends it to the provider should call that.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The pieces of this secret that could show up on their own in a message: the whole value
    /// and, for a URL, each path segment and query value long enough to be a token (an error
    /// may print only the path, and a Discord or Teams webhook's path *is* its credential).
    fn fragments(&self) -> Vec<&str> {
        let mut out = vec![self.0.as_str()];
        if let Some(rest) = self
            .0
            .strip_prefix("https://")
            .or_else(|| self.0.strip_prefix("http://"))
        {
            let after_host = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            out.push(after_host);
            for piece in after_host.split(['/', '?', '&', '=', '#']) {
                if piece.len() >= 8 {
                    out.push(piece);
                }
            }
        }
        out.retain(|f| f.len() >= 4);
        // Longest first, so a whole URL is replaced before its path could be.
        out.sort_by_key(|f| std::cmp::Reverse(f.len()));
        out
    }

    /// `text` with every occurrence of this secret (or a telling piece of it) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in self.fragments() {
            if out.contains(f) {
                out = out.replace(f, "***");
            }
        }
        out
    }
}

/// `text` with every one of `secrets` redacted.
pub fn redact_all(text: &str, secrets: &[&Secret]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| s.redact(&t))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("xoxb-123-abc");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "xoxb-123-abc");
    }

    #[test]
    fn redacts_a_webhook_url_whole_or_in_pieces() {
        let s = Secret::new("https://discord.com/api/webhooks/123456789012/AbCdEfGhIjKlMnOp");
        assert_eq!(
            s.redact("POST https://discord.com/api/webhooks/123456789012/AbCdEfGhIjKlMnOp?wait=true: 503"),
            "POST ***?wait=true: 503"
        );
        let r = s.redact("404 on /api/webhooks/123456789012/AbCdEfGhIjKlMnOp/messages/1");
        assert!(!r.contains("AbCdEfGhIjKlMnOp"), "{r}");
        let r = s.redact("token AbCdEfGhIjKlMnOp leaked");
        assert_eq!(r, "token *** leaked");
    }

    #[test]
    fn redacts_a_query_signature() {
        let s = Secret::new("https://x.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SiGnAtUrEvAlUe");
        let r = s.redact("error for url sig=SiGnAtUrEvAlUe");
        assert!(!r.contains("SiGnAtUrEvAlUe"), "{r}");
    }
}
