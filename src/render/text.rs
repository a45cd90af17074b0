//! Plain text, as a terminal (and `herald demo`) shows a notification.

use super::{duration, short_sha, status_emoji};
use crate::notification::Notification;
use std::fmt::Write;

pub fn render(n: &Notification) -> String {
    let mut out = String::new();
    let who = match &n.account_alias {
        Some(alias) => format!("{alias} ({})", n.account),
        None => n.account.clone(),
    };
    let _ = write!(
        out,
        "{} {} — {}{} [{} {}]",
        status_emoji(&n.status),
        n.title,
        n.status,
        if n.is_final { "" } else { " …" },
        who,
        n.region
    );
    if let Some(d) = n.duration_secs {
        let _ = write!(out, " in {}", duration(d));
    }
    if let Some(t) = &n.trigger {
        let _ = write!(out, "\n  trigger: {t}");
    }
    if let Some(c) = &n.commit {
        let id = c.id.as_deref().map(short_sha).unwrap_or("?");
        let _ = write!(out, "\n  commit {id}");
        if let Some(m) = &c.message {
            let _ = write!(out, " \"{}\"", m.lines().next().unwrap_or_default());
        }
        if let Some(a) = &c.author {
            let _ = write!(out, " by {a}");
        }
    }
    if !n.stages.is_empty() {
        let stages: Vec<String> = n
            .stages
            .iter()
            .map(|s| format!("{} {}", status_emoji(&s.status), s.name))
            .collect();
        let _ = write!(out, "\n  stages: {}", stages.join(" → "));
    }
    if let Some(a) = &n.approval {
        let _ = write!(out, "\n  waiting for approval at {}/{}", a.stage, a.action);
        if let Some(c) = &a.custom_data {
            let _ = write!(out, ": {c}");
        }
        if let Some(l) = &a.review_link {
            let _ = write!(out, "\n  review: {l}");
        }
        if let Some(e) = &a.expires {
            let _ = write!(out, " (expires {})", e.format("%Y-%m-%d %H:%M UTC"));
        }
    }
    if let Some(f) = &n.failure {
        if let Some(stage) = &f.stage {
            let _ = write!(out, "\n  failed in stage {stage}");
        }
        if let Some(r) = &f.reason {
            let _ = write!(out, "\n  reason: {r}");
        }
        for a in &f.actions {
            let _ = write!(out, "\n  ✗ {}", a.action);
            if let Some(p) = &a.provider {
                let _ = write!(out, " ({p})");
            }
            if let Some(r) = &a.reason {
                let _ = write!(out, ": {r}");
            }
            if let Some(c) = &a.error_code {
                let _ = write!(out, " [{c}]");
            }
            if let Some(l) = a.log_url.as_ref().or(a.url.as_ref()) {
                let _ = write!(out, "\n    {l}");
            }
            for t in super::test_lines(a, crate::notification::TESTS_KEPT, 300, str::to_owned) {
                let _ = write!(out, "\n    {t}");
            }
            if let Some(c) = super::log_caption(a.log_region.as_ref(), a.log_tail.len()) {
                let _ = write!(out, "\n    ({c})");
            }
            for line in &a.log_tail {
                let _ = write!(out, "\n    | {line}");
            }
        }
    }
    if let Some(l) = super::stall_line(n) {
        let _ = write!(out, "\n  {l}");
    }
    if let Some(l) = super::reminder_line(n) {
        let _ = write!(out, "\n  {l}");
    }
    if let Some(l) = super::health_line(n) {
        let _ = write!(out, "\n  {l}");
    }
    for l in super::verdict_lines(n) {
        let _ = write!(out, "\n  {l}");
    }
    for l in super::acted_lines(n, |u| u.to_owned()) {
        let _ = write!(out, "\n  {l}");
    }
    for w in &n.warnings {
        let _ = write!(out, "\n  ⚠ {w}");
    }
    for l in &n.links {
        let _ = write!(out, "\n  {}: {}", l.label, l.url);
    }
    out
}
