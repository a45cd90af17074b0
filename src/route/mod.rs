//! Routing: which destinations a notification goes to, by ordered rules over its fields.
//!
//! The first rule that matches wins unless it says `continue = true`; no match goes to the
//! default destination when one is configured, otherwise the notification is unrouted.

pub mod expr;

use crate::notification::Notification;
use expr::Expr;

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub expr: Expr,
    pub destinations: Vec<String>,
    pub cont: bool,
    /// Whether the rule leaves alone a notification held by a deployment (`held`, see
    /// `correlate::verdict`); `inhibit = false` routes it anyway.
    pub inhibit: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    pub rules: Vec<Rule>,
    pub default: Option<String>,
}

/// The destinations a notification goes to, and the rules that sent it there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Routed {
    pub destinations: Vec<String>,
    pub rules: Vec<String>,
}

impl Router {
    /// Everything to one destination.
    pub fn single(destination: &str) -> Self {
        Self {
            rules: Vec::new(),
            default: Some(destination.to_owned()),
        }
    }

    pub fn route(&self, n: &Notification) -> Routed {
        let mut out = Routed::default();
        for rule in self.matching(n) {
            out.rules.push(rule.name.clone());
            for d in &rule.destinations {
                if !out.destinations.contains(d) {
                    out.destinations.push(d.clone());
                }
            }
        }
        if out.destinations.is_empty() && n.held.is_none() {
            if let Some(d) = &self.default {
                out.destinations.push(d.clone());
                out.rules.push("default".into());
            }
        }
        out
    }

    /// [`Router::route`]'s destinations alone, borrowed from the rules: delivery asks this on
    /// every change, so it allocates no names.
    pub fn destinations(&self, n: &Notification) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for rule in self.matching(n) {
            for d in &rule.destinations {
                if !out.contains(&d.as_str()) {
                    out.push(d);
                }
            }
        }
        if out.is_empty() && n.held.is_none() {
            if let Some(d) = &self.default {
                out.push(d);
            }
        }
        out
    }

    /// The rules that match, in order, up to the first that does not continue. A held
    /// notification is seen only by rules with `inhibit = false` (and goes to no default).
    fn matching(&self, n: &Notification) -> Vec<&Rule> {
        let mut out = Vec::new();
        if self.rules.is_empty() {
            return out;
        }
        let v = n.to_value();
        let held = n.held.is_some();
        for rule in &self.rules {
            if held && rule.inhibit {
                continue;
            }
            if rule.expr.matches(&v) {
                out.push(rule);
                if !rule.cont {
                    break;
                }
            }
        }
        out
    }
}
