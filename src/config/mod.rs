//! Typed configuration (TOML), validated at load with errors that name what is wrong.

use crate::route::{expr::Expr, Router, Rule};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// When a thread's message is posted and edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One message edited as the story advances (the default).
    #[default]
    Progress,
    /// Only the final state is posted, as Meerkat users expect; late details still edit it.
    FinalOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelateConfig {
    pub mode: Mode,
    /// How long a final message waits for late action events before it is sent.
    pub settle_secs: i64,
    pub cache_size: usize,
    pub cache_ttl_secs: u64,
    /// How long thread items live in the store after their last write.
    pub ttl_days: i64,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Progress,
            settle_secs: 5,
            cache_size: 10_000,
            cache_ttl_secs: 600,
            ttl_days: 14,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub name: String,
    /// `text`, `jsonl`.
    pub kind: String,
    /// For `jsonl`: a file to append to (stdout when absent).
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub expr: String,
    pub destinations: Vec<String>,
    #[serde(default, rename = "continue")]
    pub cont: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub correlate: CorrelateConfig,
    pub destinations: Vec<DestinationConfig>,
    pub rules: Vec<RuleConfig>,
    pub default_destination: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: p.clone(),
            message: e.to_string(),
        })?;
        cfg.validate().map_err(|e| ConfigError::Parse {
            path: p,
            message: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Every problem at once, so one `check-config` run shows them all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        let names: Vec<&str> = self.destinations.iter().map(|d| d.name.as_str()).collect();
        for (i, d) in self.destinations.iter().enumerate() {
            if !matches!(d.kind.as_str(), "text" | "jsonl") {
                errors.push(format!(
                    "destinations[{i}] ({}): unknown kind {:?} (expected text or jsonl)",
                    d.name, d.kind
                ));
            }
            if names.iter().filter(|n| **n == d.name).count() > 1 {
                errors.push(format!("destinations[{i}]: duplicate name {:?}", d.name));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Err(e) = Expr::parse(&r.expr) {
                errors.push(format!("rules[{i}].match {:?}: {e}", r.expr));
            }
            for d in &r.destinations {
                if !names.contains(&d.as_str()) {
                    errors.push(format!("rules[{i}]: unknown destination {d:?}"));
                }
            }
        }
        if let Some(d) = &self.default_destination {
            if !names.contains(&d.as_str()) {
                errors.push(format!("default_destination: unknown destination {d:?}"));
            }
        }
        if self.correlate.settle_secs < 0 {
            errors.push("correlate.settle_secs must be >= 0".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors.join("\n")))
        }
    }

    pub fn router(&self) -> Result<Router, ConfigError> {
        let mut rules = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let expr = Expr::parse(&r.expr)
                .map_err(|e| ConfigError::Invalid(format!("rules[{i}].match: {e}")))?;
            rules.push(Rule {
                name: r.name.clone().unwrap_or_else(|| format!("rules[{i}]")),
                expr,
                destinations: r.destinations.clone(),
                cont: r.cont,
            });
        }
        Ok(Router {
            rules,
            default: self.default_destination.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_reported_with_its_place() {
        let cfg: Config = toml::from_str(
            r#"
            default_destination = "nowhere"
            [[destinations]]
            name = "ops"
            kind = "carrier-pigeon"
            [[rules]]
            match = "status:FAILED & (kind:pipeline"
            destinations = ["ops", "ghost"]
            "#,
        )
        .expect("toml");
        let err = cfg
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown kind \"carrier-pigeon\""), "{err}");
        assert!(err.contains("rules[0].match"), "{err}");
        assert!(err.contains("unknown destination \"ghost\""), "{err}");
        assert!(
            err.contains("default_destination: unknown destination \"nowhere\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let r: Result<Config, _> = toml::from_str("[correlate]\nsettle_sec = 3\n");
        assert!(r.is_err());
    }
}
