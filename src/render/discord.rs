//! Discord: a notification as an execute-webhook body with one embed, kept within Discord's
//! embed limits, mentioning nobody.

use super::{
    duration, failure_summary, first_line, headline, log_caption, log_fitting, short_sha,
    status_label, test_lines, who, Tone,
};
use super::{status_emoji, truncate};
use crate::notification::Notification;
use serde_json::{json, Map, Value};

/// Discord's embed limits (API reference, "Embed Limits").
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// The sum of title, description, field names and values, footer and author name.
pub const EMBED_TOTAL_MAX: usize = 6000;
/// A log tail longer than this stops being a summary.
const LOG_TAIL_MAX: usize = 1500;
const LOG_LINE_MAX: usize = 200;
const ACTIONS_SHOWN: usize = 8;
/// Failed tests listed per action (the rest counted).
const TESTS_SHOWN: usize = 5;

/// The body for `POST {webhook}?wait=true` and `PATCH {webhook}/messages/{id}`.
pub fn render(n: &Notification) -> Value {
    let title = truncate(&headline(n), TITLE_MAX).into_owned();
    let fields = fields(n);
    // Discord allows a 2048-character footer; ours is an id line and must not crowd the rest out.
    let footer = truncate(&footer_text(n), FOOTER_MAX.min(200)).into_owned();
    let others = title.chars().count()
        + footer.chars().count()
        + fields
            .iter()
            .map(|(k, v, _)| k.chars().count() + v.chars().count())
            .sum::<usize>();
    // The description gets what the 6000-character total leaves; it is the part that can shrink.
    let description = description(
        n,
        DESCRIPTION_MAX.min(EMBED_TOTAL_MAX.saturating_sub(others)),
    );

    let mut embed = Map::new();
    embed.insert("title".into(), json!(title));
    if let Some(l) = n.links.first().filter(|l| usable_url(&l.url)) {
        embed.insert("url".into(), json!(l.url));
    }
    if !description.is_empty() {
        embed.insert("description".into(), json!(description));
    }
    embed.insert("color".into(), json!(colour(n)));
    if !fields.is_empty() {
        let f: Vec<Value> = fields
            .into_iter()
            .map(|(name, value, inline)| json!({"name": name, "value": value, "inline": inline}))
            .collect();
        embed.insert("fields".into(), json!(f));
    }
    embed.insert("footer".into(), json!({ "text": footer }));
    if let Some(t) = n.finished_at.or(n.started_at) {
        embed.insert("timestamp".into(), json!(t.to_rfc3339()));
    }
    json!({
        "embeds": [Value::Object(embed)],
        // Commit messages and alarm reasons are not ours: they must never ping anyone.
        "allowed_mentions": {"parse": []},
    })
}

/// The colour of the embed's bar, as Discord wants it: an RGB integer.
pub fn colour(n: &Notification) -> u32 {
    match super::tone_of(n) {
        Tone::Good => 0x2EB67D,
        Tone::Bad => 0xE01E5A,
        Tone::Warn => 0xECB22E,
        Tone::Neutral => 0x9E9E9E,
    }
}

fn fields(n: &Notification) -> Vec<(String, String, bool)> {
    let mut f = vec![
        ("Account".to_string(), who(n), true),
        ("Region".to_string(), n.region.clone(), true),
    ];
    if let Some(d) = n.duration_secs {
        f.push(("Duration".into(), duration(d), true));
    }
    if let Some(c) = &n.commit {
        let mut v = String::new();
        if let Some(id) = &c.id {
            let sha = format!("`{}`", esc(short_sha(id)));
            match c.url.as_deref().filter(|u| usable_url(u)) {
                Some(u) => v.push_str(&format!("[{sha}]({})", link_url(u))),
                None => v.push_str(&sha),
            }
        }
        if let Some(b) = &c.branch {
            v.push_str(&format!(" on `{}`", esc(&truncate(b, 100))));
        }
        if let Some(a) = &c.author {
            v.push_str(&format!(" by {}", esc(&truncate(a, 100))));
        }
        if let Some(m) = &c.message {
            v.push_str(&format!("\n{}", esc(&truncate(first_line(m), 300))));
        }
        f.push(("Commit".into(), v.trim().to_string(), false));
    }
    if let Some(t) = &n.trigger {
        f.push(("Trigger".into(), esc(&truncate(t, 300)), false));
    }
    if !n.links.is_empty() {
        let l: Vec<String> = n
            .links
            .iter()
            .filter(|l| usable_url(&l.url))
            .take(8)
            .map(|l| format!("[{}]({})", esc(&truncate(&l.label, 80)), link_url(&l.url)))
            .collect();
        if !l.is_empty() {
            f.push(("Links".into(), l.join(" · "), false));
        }
    }
    f.truncate(FIELDS_MAX);
    f.into_iter()
        .filter(|(_, v, _)| !v.is_empty())
        .map(|(k, v, i)| {
            (
                truncate(&k, FIELD_NAME_MAX).into_owned(),
                fit(&v, FIELD_VALUE_MAX),
                i,
            )
        })
        .collect()
}

fn description(n: &Notification, budget: usize) -> String {
    // Parts in the order they matter; the log tail goes last and takes whatever is left.
    let mut parts: Vec<String> = vec![format!("**{}**", esc(&status_label(&n.status)))];
    if !n.stages.is_empty() {
        let s: Vec<String> = n
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    status_emoji(&s.status),
                    esc(&truncate(&s.name, 100))
                )
            })
            .collect();
        parts.push(s.join(" → "));
    }
    let mut tail: Option<&crate::notification::FailedActionInfo> = None;
    if let Some(f) = &n.failure {
        let mut head = Vec::new();
        if let Some(stage) = &f.stage {
            head.push(format!(
                "**Failed in stage** `{}`",
                esc(&truncate(stage, 100))
            ));
        }
        if let Some(r) = &f.reason {
            head.push(format!("**Reason:** {}", esc(&truncate(r, 800))));
        }
        if !head.is_empty() {
            parts.push(head.join("\n"));
        }
        for a in f.actions.iter().take(ACTIONS_SHOWN) {
            let mut line = format!("❌ **{}**", esc(&truncate(&a.action, 100)));
            if let Some(p) = &a.provider {
                line.push_str(&format!(" ({})", esc(&truncate(p, 60))));
            }
            if let Some(c) = &a.error_code {
                line.push_str(&format!(" `{}`", esc(&truncate(c, 60))));
            }
            if let Some(r) = &a.reason {
                line.push_str(&format!(" — {}", esc(&truncate(r, 400))));
            }
            if let Some(u) = a.log_url.as_deref().filter(|u| usable_url(u)) {
                line.push_str(&format!(" · [logs]({})", link_url(u)));
            }
            if let Some(u) = a.url.as_deref().filter(|u| usable_url(u)) {
                line.push_str(&format!(" · [details]({})", link_url(u)));
            }
            parts.push(line);
            let tests = test_lines(a, TESTS_SHOWN, 200, esc);
            if !tests.is_empty() {
                parts.push(tests.join("\n"));
            }
            if tail.is_none() && !a.log_tail.is_empty() {
                tail = Some(a);
            }
        }
        if f.actions.len() > ACTIONS_SHOWN {
            parts.push(format!(
                "…and {} more failed actions",
                f.actions.len() - ACTIONS_SHOWN
            ));
        }
        if f.actions.is_empty() && f.reason.is_none() {
            if let Some(s) = failure_summary(f) {
                parts.push(esc(&s));
            }
        }
    }
    if let Some(a) = &n.approval {
        let mut line = format!(
            "⏸️ **Approval needed** at `{}` / `{}`",
            esc(&truncate(&a.stage, 100)),
            esc(&truncate(&a.action, 100))
        );
        if let Some(c) = &a.custom_data {
            line.push_str(&format!("\n{}", esc(&truncate(c, 500))));
        }
        let mut links = Vec::new();
        if let Some(u) = a.review_link.as_deref().filter(|u| usable_url(u)) {
            links.push(format!("[Review]({})", link_url(u)));
        }
        if let Some(u) = a.external_link.as_deref().filter(|u| usable_url(u)) {
            links.push(format!("[Details]({})", link_url(u)));
        }
        if !links.is_empty() {
            line.push_str(&format!("\n{}", links.join(" · ")));
        }
        if let Some(e) = &a.expires {
            line.push_str(&format!(" · expires {}", e.format("%Y-%m-%d %H:%M UTC")));
        }
        parts.push(line);
    }
    if let Some(l) = super::stall_line(n) {
        parts.push(esc(&l));
    }
    if let Some(l) = super::reminder_line(n) {
        parts.push(esc(&l));
    }
    if let Some(l) = super::health_line(n) {
        parts.push(esc(&l));
    }
    for l in super::verdict_lines(n) {
        parts.push(esc(&l));
    }
    for l in super::acted_lines(n, |u| u.to_owned()) {
        parts.push(esc(&l));
    }
    for w in n.warnings.iter().take(5) {
        parts.push(format!("⚠️ {}", esc(&truncate(w, 300))));
    }

    let mut out = fit(&parts.join("\n"), budget);
    if let Some(a) = tail {
        let estimate = log_caption(a.log_region.as_ref(), a.log_tail.len())
            .map(|c| format!("\n*{c}*"))
            .unwrap_or_default();
        let used = out.chars().count() + estimate.chars().count();
        // "\n```\n" + "\n```" + an "…(N earlier lines)" note.
        let room = budget.saturating_sub(used + 10 + 30).min(LOG_TAIL_MAX);
        let (kept, note) = log_fitting(
            &a.log_tail,
            a.log_region.as_ref(),
            room,
            LOG_LINE_MAX,
            |l| l.replace("```", "'''"),
        );
        let caption = log_caption(a.log_region.as_ref(), kept.len())
            .map(|c| format!("\n*{c}*"))
            .unwrap_or_default();
        if !kept.is_empty() {
            let note = note.map(|n| n + "\n").unwrap_or_default();
            out.push_str(&format!("{caption}\n```\n{note}{}\n```", kept.join("\n")));
        }
    }
    out
}

fn footer_text(n: &Notification) -> String {
    let key = n
        .execution_id
        .as_deref()
        .or(n.deployment_id.as_deref())
        .or(n.build_id.as_deref())
        .or(n.alarm_name.as_deref());
    match key {
        Some(k) => format!("herald · {} · {k}", n.kind.as_str()),
        None => format!("herald · {}", n.kind.as_str()),
    }
}

/// Backslash-escapes Discord markdown in text that is not ours (commit messages, reasons), so a
/// `*` in a commit message stays a `*`.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Cuts to `max` characters without leaving a dangling escape or an open code fence.
fn fit(s: &str, max: usize) -> String {
    super::fit_markup(s, max, |keep| keep.strip_suffix('\\').map(str::len))
}

pub(crate) fn usable_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2048
}

/// A masked link's URL ends at the first `)` or space, so those are percent-encoded.
pub(crate) fn link_url(u: &str) -> String {
    u.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

/// The characters Discord counts against the 6000 total.
pub fn embed_text_len(embed: &Value) -> usize {
    let len = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
    let mut total = len(&embed["title"]) + len(&embed["description"]);
    total += len(&embed["footer"]["text"]) + len(&embed["author"]["name"]);
    if let Some(fields) = embed["fields"].as_array() {
        total += fields
            .iter()
            .map(|f| len(&f["name"]) + len(&f["value"]))
            .sum::<usize>();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{status, FailedActionInfo, Failure, Kind, Link};

    fn huge() -> Notification {
        Notification {
            stalled: false,
            stalled_since: None,
            stalled_for_secs: None,
            reminder: None,
            principal: None,
            invoked_by: None,
            desired_count: None,
            crashes: None,
            last_crash: None,
            health: None,
            verdict: None,
            alarms: Vec::new(),
            deployment: None,
            aws_health: Vec::new(),
            held: None,
            actions: vec![],
            acted: vec![],
            muted: None,
            kind: Kind::Pipeline,
            status: status::FAILED.into(),
            is_final: true,
            account: "1".into(),
            account_alias: None,
            region: "r".into(),
            pipeline: None,
            execution_id: Some("x".repeat(3000)),
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: None,
            cluster: None,
            service: None,
            alarm_name: None,
            title: "🚀".repeat(400),
            started_at: None,
            finished_at: None,
            duration_secs: None,
            trigger: Some("t".repeat(5000)),
            commit: None,
            stages: vec![],
            failure: Some(Failure {
                stage: None,
                reason: Some("*".repeat(5000)),
                actions: (0..30)
                    .map(|i| FailedActionInfo {
                        action: format!("a{i}"),
                        reason: Some("_".repeat(900)),
                        log_tail: (0..100)
                            .map(|j| format!("l{j} {}", "日".repeat(300)))
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
            }),
            approval: None,
            warnings: vec!["w".repeat(5000); 10],
            links: (0..30)
                .map(|i| Link {
                    label: format!("l{i}"),
                    url: format!("https://example.com/{i}/{}", "p".repeat(200)),
                })
                .collect(),
        }
    }

    #[test]
    fn every_embed_limit_holds_on_huge_input() {
        let v = render(&huge());
        let e = &v["embeds"][0];
        assert!(e["title"].as_str().unwrap().chars().count() <= TITLE_MAX);
        assert!(e["description"].as_str().unwrap().chars().count() <= DESCRIPTION_MAX);
        assert!(e["footer"]["text"].as_str().unwrap().chars().count() <= FOOTER_MAX);
        let fields = e["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        for f in fields {
            assert!(f["name"].as_str().unwrap().chars().count() <= FIELD_NAME_MAX);
            assert!(f["value"].as_str().unwrap().chars().count() <= FIELD_VALUE_MAX);
        }
        assert!(
            embed_text_len(e) <= EMBED_TOTAL_MAX,
            "{}",
            embed_text_len(e)
        );
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
        let d = e["description"].as_str().unwrap();
        assert_eq!(d.matches("```").count() % 2, 0, "fences stay balanced");
    }

    #[test]
    fn markdown_in_foreign_text_is_escaped() {
        assert_eq!(esc("a*b_c `d` #1 [x](y)"), r"a\*b\_c \`d\` \#1 \[x\](y)");
    }
}
