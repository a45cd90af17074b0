//! Slack: a notification as Block Kit (a header, then the details in a status-coloured
//! attachment), kept within Slack's documented limits, plus the thread reply with the failure.
//!
use super::{
    duration, failure_summary, first_line, headline, log_caption, log_fitting, short_sha,
    stall_line, status_emoji, status_label, test_lines, truncate, who, Tone,
};
use crate::notification::{status, ApprovalInfo, FailedActionInfo, LogRegion, Notification};
use serde_json::{json, Value};

/// Slack's limits (Block Kit reference): header text, section text, blocks per message.
pub const HEADER_MAX: usize = 150;
pub const SECTION_MAX: usize = 3000;
pub const BLOCKS_MAX: usize = 50;
/// The `text` fallback shows in notifications and screen readers only; a short one reads best.
pub const TEXT_MAX: usize = 1000;
/// Button labels and URLs (Block Kit button element).
const BUTTON_TEXT_MAX: usize = 75;
const URL_MAX: usize = 3000;
/// More failed actions than this fold into "…and N more": a message is read, not scrolled.
const ACTIONS_SHOWN: usize = 10;
/// Failed tests listed per action (the rest counted).
const TESTS_SHOWN: usize = 8;
/// One absurdly long log line must not eat the whole tail.
const LOG_LINE_MAX: usize = 300;
const REASON_MAX: usize = 1500;

/// What the Slack sink learns at delivery time and the pure renderer cannot know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The commit author's Slack user id (from `users.lookupByEmail`), mentioned as `<@U…>`.
    pub author_mention: Option<&'a str>,
    /// The message's thread id, when people may act from it (`[actions]` configured): the
    /// notification's `actions` become buttons that carry it.
    pub actions_for: Option<&'a str>,
}

/// A button's `action_id` is this prefix and the action's id.
pub const ACTION_PREFIX: &str = "herald:";

/// What a button carries back: the thread's message id and the basis it was shown on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ButtonValue {
    #[serde(rename = "t")]
    pub thread: String,
    #[serde(rename = "b")]
    pub basis: String,
}

/// The notification's `actions` as buttons, with a confirm dialog for what cannot be undone.
fn buttons(n: &Notification, x: Extras<'_>) -> Option<Value> {
    use crate::notification::action::{self as act, id};
    let thread = x.actions_for?;
    let elements: Vec<Value> = n
        .actions
        .iter()
        .map(|a| {
            let value = ButtonValue {
                thread: thread.to_owned(),
                basis: act::basis(n, &a.id),
            };
            let mut b = json!({
                "type": "button",
                "action_id": format!("{ACTION_PREFIX}{}", a.id),
                "text": {"type": "plain_text", "text": truncate(&a.label, BUTTON_TEXT_MAX), "emoji": true},
                "value": serde_json::to_string(&value).unwrap_or_default(),
            });
            if a.style == "primary" || a.style == "danger" {
                b["style"] = json!(a.style);
            }
            if matches!(
                a.id.as_str(),
                id::APPROVE | id::REJECT | id::STOP_PIPELINE | id::STOP_DEPLOYMENT | id::ROLL_BACK
            ) {
                b["confirm"] = json!({
                    "title": {"type": "plain_text", "text": truncate(&format!("{}?", a.label), 100)},
                    "text": {"type": "mrkdwn", "text": fit(&format!("{} *{}*?", esc(&a.label), esc(&n.title)), 300)},
                    "confirm": {"type": "plain_text", "text": truncate(&a.label, 30)},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                    "style": if a.style == "danger" { "danger" } else { "primary" },
                });
            }
            b
        })
        .collect();
    (!elements.is_empty())
        .then(|| json!({"type": "actions", "block_id": "herald_actions", "elements": elements}))
}

/// The `chat.postMessage` / `chat.update` body, without `channel` and `ts`.
pub fn render(n: &Notification) -> Value {
    render_with(n, Extras::default())
}

pub fn render_with(n: &Notification, x: Extras<'_>) -> Value {
    let header = json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate(&headline(n), HEADER_MAX),
            "emoji": true,
        },
    });
    let mut details = vec![context(&status_line(n))];
    if let Some(l) = stall_line(n) {
        details.push(section(&esc(&l)));
    }
    if let Some(l) = super::reminder_line(n) {
        details.push(section(&esc(&l)));
    }
    if let Some(l) = super::health_line(n) {
        details.push(section(&esc(&l)));
    }
    for l in super::verdict_lines(n) {
        details.push(section(&esc(&l)));
    }
    // Who acted is mentioned: each line is escaped around a placeholder the mention replaces.
    let users = n
        .acted
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|a| a.by.as_str())
        .chain(n.muted.as_ref().map(|m| m.by.as_str()));
    for (l, user) in super::acted_lines(n, |_| "\u{1}".to_owned())
        .iter()
        .zip(users)
    {
        details.push(section(&esc(l).replace('\u{1}', &mention(user))));
    }
    if let Some(s) = stages_line(n) {
        details.push(section(&s));
    }
    if let Some(f) = &n.failure {
        details.extend(failure_blocks(n, f));
    }
    if let Some(a) = &n.approval {
        details.extend(approval_blocks(a));
    }
    if let Some(c) = commit_text(n, x) {
        details.push(section(&c));
    }
    if !n.warnings.is_empty() {
        let w: Vec<String> = n
            .warnings
            .iter()
            .map(|w| format!("⚠️ {}", esc(&truncate(w, REASON_MAX))))
            .collect();
        details.push(section(&w.join("\n")));
    }
    if let Some(l) = links_text(n) {
        details.push(context(&l));
    }
    // The header sits outside the attachment so it reads first; everything else gets the colour
    // bar. Slack counts the blocks of both against the same 50.
    let buttons = buttons(n, x);
    cap_blocks(
        &mut details,
        BLOCKS_MAX - 1 - usize::from(buttons.is_some()),
    );
    details.extend(buttons);
    json!({
        "text": fallback_text(n),
        "blocks": [header],
        "attachments": [{
            "color": colour(n),
            "blocks": details,
        }],
    })
}

/// The thread reply with the failure in full (and the author mentioned), for `Op::Reply`.
pub fn render_reply(n: &Notification, x: Extras<'_>) -> Value {
    let mut blocks = Vec::new();
    let stall = super::news_line(n);
    match (&stall, &n.failure) {
        (Some(l), _) => blocks.push(section(&esc(&format!("{} {l}", n.title)))),
        (None, Some(f)) => blocks.extend(failure_blocks(n, f)),
        (None, None) => blocks.push(section(&esc(&status_line_plain(n)))),
    }
    if let Some(id) = x.author_mention {
        blocks.push(context(&format!("cc {}", mention(id))));
    }
    cap_blocks(&mut blocks, BLOCKS_MAX);
    let text = match (&stall, n.failure.as_ref().and_then(failure_summary)) {
        (Some(l), _) => format!("{}: {l}", n.title),
        (None, Some(s)) => format!("{} {}: {}", status_emoji(&n.status), n.title, s),
        (None, None) => headline(n),
    };
    json!({
        "text": esc(&truncate(&text, TEXT_MAX)),
        "blocks": blocks,
    })
}

fn fallback_text(n: &Notification) -> String {
    let t = format!(
        "{} — {} · {} · {}",
        headline(n),
        status_label(&n.status),
        who(n),
        n.region
    );
    fit(&esc(&t), TEXT_MAX)
}

fn status_line(n: &Notification) -> String {
    let mut parts = vec![
        format!("*{}*", esc(&status_label(&n.status))),
        esc(&who(n)),
        esc(&n.region),
    ];
    if let Some(d) = n.duration_secs {
        parts.push(format!("took {}", duration(d)));
    }
    if let Some(t) = &n.trigger {
        parts.push(format!("triggered by {}", esc(&truncate(t, 200))));
    }
    parts.join(" · ")
}

fn status_line_plain(n: &Notification) -> String {
    format!(
        "{} — {} · {} · {}",
        headline(n),
        status_label(&n.status),
        who(n),
        n.region
    )
}

fn stages_line(n: &Notification) -> Option<String> {
    if n.stages.is_empty() {
        return None;
    }
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
    Some(s.join("  →  "))
}

fn failure_blocks(n: &Notification, f: &crate::notification::Failure) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut head = Vec::new();
    if let Some(stage) = &f.stage {
        head.push(format!(
            "*Failed in stage* `{}`",
            esc(&truncate(stage, 100))
        ));
    }
    if let Some(r) = &f.reason {
        head.push(format!("*Reason:* {}", esc(&truncate(r, REASON_MAX))));
    }
    if !head.is_empty() {
        blocks.push(section(&head.join("\n")));
    }
    for a in f.actions.iter().take(ACTIONS_SHOWN) {
        blocks.push(section(&action_text(a)));
        let tests = test_lines(a, TESTS_SHOWN, 300, esc);
        if !tests.is_empty() {
            blocks.push(section(&fit(&tests.join("\n"), SECTION_MAX)));
        }
        if !a.log_tail.is_empty() {
            let (block, shown) = code_block(&a.log_tail, a.log_region.as_ref(), SECTION_MAX);
            if let Some(c) = log_caption(a.log_region.as_ref(), shown) {
                blocks.push(context(&c));
            }
            blocks.push(section(&block));
        }
    }
    if f.actions.len() > ACTIONS_SHOWN {
        blocks.push(context(&format!(
            "…and {} more failed actions",
            f.actions.len() - ACTIONS_SHOWN
        )));
    }
    // A failure with nothing to say still says that it failed.
    if blocks.is_empty() && n.status == status::FAILED {
        blocks.push(section("*Failed* (no details were available)"));
    }
    blocks
}

fn action_text(a: &FailedActionInfo) -> String {
    let mut first = format!("❌ *{}*", esc(&truncate(&a.action, 200)));
    if let Some(p) = &a.provider {
        first.push_str(&format!(" ({})", esc(&truncate(p, 100))));
    }
    if let Some(c) = &a.error_code {
        first.push_str(&format!(" `{}`", esc(&truncate(c, 100))));
    }
    let mut lines = vec![first];
    if let Some(r) = &a.reason {
        lines.push(esc(&truncate(r, REASON_MAX)));
    }
    let mut links = Vec::new();
    if let Some(u) = &a.log_url {
        links.push(link(u, "View logs"));
    }
    if let Some(u) = &a.url {
        let label = match &a.external_id {
            Some(id) => truncate(id, 100).into_owned(),
            None => "Details".to_string(),
        };
        links.push(link(u, &label));
    }
    if !links.is_empty() {
        lines.push(links.join(" · "));
    }
    lines.join("\n")
}

fn approval_blocks(a: &ApprovalInfo) -> Vec<Value> {
    let mut lines = vec![format!(
        "⏸️ *Approval needed* at `{}` / `{}`",
        esc(&truncate(&a.stage, 100)),
        esc(&truncate(&a.action, 100))
    )];
    if let Some(c) = &a.custom_data {
        lines.push(esc(&truncate(c, REASON_MAX)));
    }
    if let Some(e) = &a.expires {
        lines.push(format!("Expires {}", e.format("%Y-%m-%d %H:%M UTC")));
    }
    let mut blocks = vec![section(&lines.join("\n"))];
    let mut buttons = Vec::new();
    if let Some(u) = a.review_link.as_deref().filter(|u| usable_url(u)) {
        buttons.push(json!({
            "type": "button",
            "action_id": "herald_review",
            "text": {"type": "plain_text", "text": truncate("Review", BUTTON_TEXT_MAX), "emoji": true},
            "url": u,
            "style": "primary",
        }));
    }
    if let Some(u) = a.external_link.as_deref().filter(|u| usable_url(u)) {
        buttons.push(json!({
            "type": "button",
            "action_id": "herald_details",
            "text": {"type": "plain_text", "text": "Details", "emoji": true},
            "url": u,
        }));
    }
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks
}

fn commit_text(n: &Notification, x: Extras<'_>) -> Option<String> {
    let c = n.commit.as_ref()?;
    let mut line = "*Commit*".to_string();
    if let Some(id) = &c.id {
        let sha = format!("`{}`", esc(short_sha(id)));
        match &c.url {
            Some(u) => line.push_str(&format!(" {}", link(u, &sha))),
            None => line.push_str(&format!(" {sha}")),
        }
    }
    if let Some(b) = &c.branch {
        line.push_str(&format!(" on `{}`", esc(&truncate(b, 100))));
    }
    if let Some(a) = &c.author {
        line.push_str(&format!(" by {}", esc(&truncate(a, 100))));
    }
    if let Some(id) = x.author_mention {
        line.push_str(&format!(" {}", mention(id)));
    }
    if let Some(m) = &c.message {
        line.push_str(&format!("\n> {}", esc(&truncate(first_line(m), 300))));
    }
    Some(line)
}

fn links_text(n: &Notification) -> Option<String> {
    let l: Vec<String> = n
        .links
        .iter()
        .take(10)
        .map(|l| link(&l.url, &truncate(&l.label, 100)))
        .collect();
    (!l.is_empty()).then(|| l.join(" · "))
}

/// A mrkdwn section; the text is cut to Slack's limit as the last line of defence (each part
/// was already budgeted, so this only bites on pathological input).
fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_MAX)}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, SECTION_MAX)}]})
}

fn cap_blocks(blocks: &mut Vec<Value>, max: usize) {
    if blocks.len() > max {
        blocks.truncate(max.saturating_sub(1));
        blocks.push(context("…(more details were cut to fit Slack's limits)"));
    }
}

fn mention(user_id: &str) -> String {
    // A user id is [A-Z0-9]; anything else would not be an id and could inject markup.
    let id: String = user_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("<@{id}>")
}

/// `<url|label>`. The label is already mrkdwn (escaped); the URL must not contain the
/// characters that end a link, so those are percent-encoded.
pub(crate) fn link(url: &str, label: &str) -> String {
    if !usable_url(url) {
        return label.to_string();
    }
    let url = url
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    let label = label.replace('|', "¦");
    format!("<{url}|{label}>")
}

fn usable_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.chars().count() <= URL_MAX
}

/// The lines in a code block within `max`, and how many of them it shows.
fn code_block(lines: &[String], region: Option<&LogRegion>, max: usize) -> (String, usize) {
    // "```\n" + "\n```" around the lines.
    let (kept, note) = log_fitting(
        lines,
        region,
        max.saturating_sub(8 + 40),
        LOG_LINE_MAX,
        |l| esc(&l.replace("```", "'''")),
    );
    let mut body = String::new();
    if let Some(n) = note {
        body.push_str(&n);
        body.push('\n');
    }
    body.push_str(&kept.join("\n"));
    (format!("```\n{body}\n```"), kept.len())
}

/// Slack's three control characters, escaped as its docs ask for any text shown as mrkdwn.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts mrkdwn to `max` characters without leaving half an entity (`&am`), half a link
/// (`<https://…`) or an open code fence behind.
pub fn fit(s: &str, max: usize) -> String {
    super::fit_markup(s, max, |keep| {
        let open = |start: char, end: char| keep.rfind(start).filter(|&i| !keep[i..].contains(end));
        open('&', ';').or_else(|| open('<', '>'))
    })
}

fn colour(n: &Notification) -> &'static str {
    match super::tone_of(n) {
        Tone::Good => "#2EB67D",
        Tone::Bad => "#E01E5A",
        Tone::Warn => "#ECB22E",
        Tone::Neutral => "#9E9E9E",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Commit, Failure, Kind};

    fn base() -> Notification {
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
            account: "111122223333".into(),
            account_alias: Some("prod".into()),
            region: "eu-west-1".into(),
            pipeline: Some("web".into()),
            execution_id: Some("e-1".into()),
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: None,
            cluster: None,
            service: None,
            alarm_name: None,
            title: "web <prod> & co".into(),
            started_at: None,
            finished_at: None,
            duration_secs: Some(185),
            trigger: None,
            commit: None,
            stages: vec![],
            failure: None,
            approval: None,
            warnings: vec![],
            links: vec![],
        }
    }

    fn all_texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    out.push(t.clone());
                }
                m.values().for_each(|x| all_texts(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| all_texts(x, out)),
            _ => {}
        }
    }

    #[test]
    fn mrkdwn_is_escaped_and_the_header_is_plain() {
        let v = render(&base());
        assert_eq!(v["blocks"][0]["text"]["text"], "❌ web <prod> & co");
        assert!(v["text"]
            .as_str()
            .unwrap()
            .contains("web &lt;prod&gt; &amp; co"));
        assert_eq!(v["attachments"][0]["color"], "#E01E5A");
    }

    #[test]
    fn fit_never_splits_an_entity_a_link_or_a_fence() {
        let s = format!("{}&amp;", "a".repeat(10));
        assert_eq!(fit(&s, 13), "aaaaaaaaaa…");
        let s = format!("{}<https://x.example/y|z> tail", "a".repeat(5));
        assert_eq!(fit(&s, 12), "aaaaa…");
        let s = format!("```\n{}\n```", "x".repeat(50));
        let f = fit(&s, 20);
        assert!(f.ends_with("…\n```") && f.chars().count() <= 20, "{f}");
    }

    #[test]
    fn huge_input_stays_within_every_limit() {
        let mut n = base();
        n.title = "t".repeat(500);
        n.failure = Some(Failure {
            stage: Some("Build".into()),
            reason: Some("r".repeat(10_000)),
            actions: (0..40)
                .map(|i| FailedActionInfo {
                    action: format!("a{i}"),
                    reason: Some("&".repeat(5000)),
                    log_tail: (0..200)
                        .map(|j| format!("<line {j}> {}", "é".repeat(400)))
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        });
        n.commit = Some(Commit {
            message: Some("日本語".repeat(1000)),
            ..Default::default()
        });
        let v = render(&n);
        let blocks = v["blocks"].as_array().unwrap().len()
            + v["attachments"][0]["blocks"].as_array().unwrap().len();
        assert!(blocks <= BLOCKS_MAX);
        assert!(
            v["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= HEADER_MAX
        );
        let mut texts = vec![];
        all_texts(&v, &mut texts);
        for t in texts {
            assert!(
                t.chars().count() <= SECTION_MAX,
                "{} chars",
                t.chars().count()
            );
        }
        let r = render_reply(&n, Extras::default());
        assert!(r["blocks"].as_array().unwrap().len() <= BLOCKS_MAX);
    }

    #[test]
    fn the_log_tail_keeps_the_end() {
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let (c, _) = code_block(&lines, None, 200);
        assert!(c.contains("line 999"));
        assert!(!c.contains("line 0\n"));
        assert!(c.contains("earlier lines"));
        assert!(c.chars().count() <= 200);
    }

    #[test]
    fn mention_ids_cannot_inject_markup() {
        let mut n = base();
        n.commit = Some(Commit {
            author: Some("A".into()),
            ..Default::default()
        });
        let v = render_with(
            &n,
            Extras {
                author_mention: Some("U1>|<!channel"),
                actions_for: None,
            },
        );
        let s = v.to_string();
        assert!(s.contains("<@U1channel>"));
        assert!(!s.contains("<!channel>"));
    }
}
