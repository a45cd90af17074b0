//! Rendering: the notification model to what each kind of destination shows. Pure functions.
//! The helpers below are shared by the chat renderers.

pub mod amazonq;
pub mod digest;
pub mod discord;
pub mod slack;
pub mod teams;
pub mod text;

use crate::notification::Notification;

/// The emoji a status reads as in chat.
pub fn status_emoji(status: &str) -> &'static str {
    use crate::notification::status::*;
    match status {
        SUCCEEDED | OK | RECOVERED | CLOSED => "✅",
        FAILED | ALARM => "❌",
        OPEN => "🩺",
        UPCOMING => "🗓️",
        CRASH_LOOP => "💥",
        RECOVERING => "🩹",
        ROLLED_BACK => "↩️",
        STOPPED | CANCELED | SUPERSEDED => "⏹️",
        WAITING_FOR_APPROVAL => "⏸️",
        STARTED | IN_PROGRESS => "🔄",
        _ => "ℹ️",
    }
}

/// Cuts `s` to at most `max` characters (not bytes: never splits a UTF-8 sequence), marking the
/// cut with an ellipsis so readers know something is missing.
pub fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.chars().count() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    std::borrow::Cow::Owned(format!("{keep}…"))
}

/// Cuts marked-up text to `max` characters, closing a code fence the cut leaves open. `broken`
/// finds a markup token the cut left half-written at the end (an entity, a link, an escape)
/// and returns where it starts, to be cut off whole.
pub(crate) fn fit_markup(s: &str, max: usize, broken: impl Fn(&str) -> Option<usize>) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut keep: String = s.chars().take(max.saturating_sub(1)).collect();
    loop {
        if let Some(i) = broken(&keep) {
            keep.truncate(i);
            continue;
        }
        let suffix = if keep.matches("```").count() % 2 == 1 {
            "…\n```"
        } else {
            "…"
        };
        if keep.chars().count() + suffix.chars().count() <= max {
            keep.push_str(suffix);
            return keep;
        }
        keep.pop();
    }
}

// ---------------------------------------------------------------------------------------------
// Shared by the chat renderers.

/// How a status should look: the colour of Slack's bar, Discord's embed, Teams' heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
    Neutral,
}

/// A notification's tone: its status's, except that a stalled thread needs eyes, and so does
/// a deployment that succeeded into an UNHEALTHY verdict.
pub fn tone_of(n: &Notification) -> Tone {
    let unhealthy = n
        .verdict
        .as_ref()
        .is_some_and(|v| v.status == crate::notification::verdict_status::UNHEALTHY);
    if (n.stalled && !n.is_final) || unhealthy {
        Tone::Warn
    } else {
        tone(&n.status)
    }
}

pub fn tone(s: &str) -> Tone {
    use crate::notification::status::*;
    match s {
        SUCCEEDED | OK | RECOVERED | CLOSED => Tone::Good,
        FAILED | ALARM | CRASH_LOOP => Tone::Bad,
        // An AWS issue open: needs eyes, not ours to fix.
        OPEN => Tone::Warn,
        // A task crashed and the service is replacing it: needs eyes.
        RECOVERING => Tone::Warn,
        // A rollback put the service back, an approval waits for a person: both need eyes,
        // neither is an outage.
        ROLLED_BACK | WAITING_FOR_APPROVAL => Tone::Warn,
        _ => Tone::Neutral,
    }
}

/// A status as people read it: `WAITING FOR APPROVAL`, not `WAITING_FOR_APPROVAL` (whose
/// underscores chat markdown would also try to read as italics).
pub fn status_label(s: &str) -> String {
    s.replace('_', " ")
}

/// What a stalled thread's message says: for how long nothing was heard, since when, and what
/// that may mean for its kind. `None` unless stalled.
pub fn stall_line(n: &Notification) -> Option<String> {
    if !n.stalled || n.is_final {
        return None;
    }
    let since = n
        .stalled_since
        .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let span = n
        .stalled_for_secs
        .map(|s| format!(" for {}", duration(s)))
        .unwrap_or_default();
    let meaning = match n.kind {
        crate::notification::Kind::EcsDeployment => {
            "the deployment may be stuck (waiting on something, no room to place its tasks) or its last events were lost"
        }
        crate::notification::Kind::EcsScaling => {
            "the service has not reached its desired count (no room to place its tasks, or they fail to start or to pass health checks)"
        }
        _ => "an action may be hung or waiting on something outside AWS, or the execution's last events were lost",
    };
    Some(format!(
        "⏳ Stalled: nothing heard{span}{since}: {meaning}."
    ))
}

/// What an approval reminder says (`None` without one).
pub fn reminder_line(n: &Notification) -> Option<String> {
    let r = n.reminder.as_ref()?;
    let what = match (r.kind.as_str(), r.waiting_secs, r.expires) {
        ("expiring", _, Some(e)) => format!(
            "This approval expires at {}, in less than a day",
            e.format("%Y-%m-%d %H:%M UTC")
        ),
        (_, Some(w), _) => format!("Still waiting for approval after {}", duration(w)),
        _ => "Still waiting for approval".to_owned(),
    };
    Some(format!("⏰ {what}."))
}

/// What an AWS Health event says, as one line: "ECS AWS_ECS_OPERATIONAL_ISSUE (issue), accounts
/// 111122223333, 444455556666: <the latest description>" (`None` for other kinds).
pub fn health_line(n: &Notification) -> Option<String> {
    let h = n.health.as_ref()?;
    let mut s = format!("{} {}", h.service, h.event_type_code);
    if let Some(c) = &h.category {
        s.push_str(&format!(" ({c})"));
    }
    if !h.accounts.is_empty() {
        let noun = if h.accounts.len() == 1 {
            "account"
        } else {
            "accounts"
        };
        s.push_str(&format!(", {noun} {}", h.accounts.join(", ")));
    }
    if let Some(d) = &h.description {
        s.push_str(": ");
        s.push_str(&truncate(d.trim(), HEALTH_DESCRIPTION_MAX));
    }
    Some(s)
}

/// What a message says people did from it ("✅ Approved by @alice at 10:02 UTC"), and a mute.
/// `by` formats a chat user id (Slack mentions it; other providers print it).
pub fn acted_lines(n: &Notification, by: impl Fn(&str) -> String) -> Vec<String> {
    use crate::notification::action::{id, outcome};
    let hm = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for a in n.acted.iter().rev().take(5).rev() {
        let (done, asked) = match a.action.as_str() {
            id::APPROVE => ("Approved", "Approval"),
            id::REJECT => ("Rejected", "Rejection"),
            id::RETRY_STAGE => ("Stage retried", "Stage retry"),
            id::STOP_PIPELINE => ("Stopped", "Stop"),
            id::CONTINUE_DEPLOYMENT => ("Continued (traffic rerouted)", "Continue"),
            id::STOP_DEPLOYMENT => ("Stopped with rollback", "Stop with rollback"),
            id::TERMINATE_OLD => ("Old task set terminated", "Termination of the old task set"),
            id::MUTE => ("Muted", "Mute"),
            id::ROLL_BACK => ("Rolled back", "Rollback"),
            other => (other, other),
        };
        let who = by(&a.by);
        let at = hm(a.at);
        out.push(match (a.outcome.as_str(), &a.error) {
            (outcome::DONE, _) => format!("✅ {done} by {who} at {at}"),
            (outcome::FAILED, e) => format!(
                "❌ {asked} by {who} at {at} failed: {}",
                truncate(e.as_deref().unwrap_or("unknown error"), 300)
            ),
            _ => format!("⏳ {asked} requested by {who} at {at}"),
        });
    }
    if let Some(m) = &n.muted {
        out.push(format!("🔕 Muted by {} until {}.", by(&m.by), hm(m.until)));
    }
    out
}

/// What a message says of deploy verdicts: a deployment's verdict and the alarms it ran into,
/// an alarm's deployment, and why an alarm is held. Empty for the rest.
pub fn verdict_lines(n: &Notification) -> Vec<String> {
    use crate::notification::verdict_status as vs;
    let hm = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if let Some(v) = &n.verdict {
        out.push(match v.status.as_str() {
            vs::HEALTHY => format!(
                "💚 Healthy: no alarm fired in the {} after the deploy.",
                duration(v.watched_secs.unwrap_or(0))
            ),
            vs::UNHEALTHY => format!(
                "🚨 Unhealthy: {} fired {} the deploy.",
                v.alarms.join(", "),
                match v.after_secs {
                    Some(s) if s > 0 => format!("{} after", duration(s)),
                    _ => "during and was still in ALARM after".to_owned(),
                }
            ),
            _ => format!("👀 Watching its alarms until {}.", hm(v.until)),
        });
    }
    for h in n.aws_health.iter().take(3) {
        let since = h
            .since
            .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        out.push(format!(
            "⚠️ AWS Health: {} {} in {}{since}.",
            h.event_type_code,
            if h.status == crate::notification::status::CLOSED {
                "(now closed) was open"
            } else {
                "open"
            },
            n.region
        ));
    }
    let blamed = |name: &str| {
        n.verdict
            .as_ref()
            .is_some_and(|v| v.alarms.iter().any(|a| a == name))
    };
    for a in n.alarms.iter().take(5) {
        let line = match (a.phase.as_str(), a.cleared_at) {
            ("before", _) => format!(
                "Alarm {} was already in ALARM before the deploy (not blamed on it).",
                a.name
            ),
            ("during", Some(c)) => format!(
                "Alarm {} fired and cleared while deploying ({}–{}).",
                a.name,
                hm(a.fired_at),
                hm(Some(c))
            ),
            ("during", None) => format!(
                "Alarm {} fired while deploying ({}).",
                a.name,
                hm(a.fired_at)
            ),
            (_, cleared) if !blamed(&a.name) || cleared.is_some() => format!(
                "Alarm {} fired at {}{}.",
                a.name,
                hm(a.fired_at),
                cleared
                    .map(|c| format!(", cleared at {}", hm(Some(c))))
                    .unwrap_or_default()
            ),
            _ => continue,
        };
        out.push(line);
    }
    if let Some(d) = &n.deployment {
        let by =
            d.by.as_ref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default();
        let what = format!("{} deploy {}{by}", d.target, d.deployment_id);
        out.push(match (d.during, d.after_secs) {
            (true, _) => format!("🚀 Fired while {what} was running."),
            (false, Some(s)) => format!(
                "🚀 Fired {} after {what} ({}).",
                duration(s),
                status_label(&d.status).to_lowercase()
            ),
            (false, None) => format!("🚀 Fired after {what}."),
        });
    }
    if let Some(h) = &n.held {
        out.push(match h.reason.as_str() {
            "deploying" => format!(
                "⏸ Held: told if still in ALARM when deployment {} ends.",
                h.deployment_id
            ),
            _ => format!(
                "⏸ Held: it cleared before deployment {} ended, which tells it.",
                h.deployment_id
            ),
        });
    }
    out
}

/// Characters of a Health event's description a message shows.
pub const HEALTH_DESCRIPTION_MAX: usize = 600;

/// The news a thread's reply tells (a stall, an approval reminder, an UNHEALTHY verdict), as
/// one line.
pub fn news_line(n: &Notification) -> Option<String> {
    stall_line(n)
        .or_else(|| reminder_line(n))
        .or_else(|| unhealthy_line(n))
}

/// What the reply to an UNHEALTHY verdict says: which alarms fired how long after the deploy,
/// and who deployed it (`None` for other verdicts).
pub fn unhealthy_line(n: &Notification) -> Option<String> {
    let v = n
        .verdict
        .as_ref()
        .filter(|v| v.status == crate::notification::verdict_status::UNHEALTHY)?;
    let when = match v.after_secs {
        Some(s) if s > 0 => format!("fired {} after the deploy", duration(s)),
        _ => "fired during the deploy and was still in ALARM when it ended".to_owned(),
    };
    let by = n
        .principal
        .as_ref()
        .map(|p| format!(" (deployed by {p})"))
        .unwrap_or_default();
    Some(format!("🚨 {} {when}{by}.", v.alarms.join(", ")))
}

pub fn headline(n: &Notification) -> String {
    format!("{} {}", status_emoji(&n.status), n.title)
}

/// The account as people know it: its alias with the id, or the id alone.
pub fn who(n: &Notification) -> String {
    match &n.account_alias {
        Some(alias) => format!("{alias} ({})", n.account),
        None => n.account.clone(),
    }
}

pub fn short_sha(id: &str) -> &str {
    if id.len() > 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..8]
    } else {
        id
    }
}

/// A span of time in its two largest units: `42s`, `5m 03s`, `2h 05m`, `3d 04h`, `2y 010d`
/// (negative spans are `0s`). Chat messages and the status page both say it this way.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (60, 3600, 86_400);
    let y = 365 * d;
    match s {
        _ if s < m => format!("{s}s"),
        _ if s < h => format!("{}m {:02}s", s / m, s % m),
        _ if s < d => format!("{}h {:02}m", s / h, s % h / m),
        _ if s < y => format!("{}d {:02}h", s / d, s % d / h),
        _ => format!("{}y {:03}d", s / y, s % y / d),
    }
}

pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// One line for a failure: the reason of the first action that has one, else the overall one.
pub fn failure_summary(f: &crate::notification::Failure) -> Option<String> {
    f.actions
        .iter()
        .find_map(|a| {
            a.reason
                .as_ref()
                .map(|r| format!("{}: {}", a.action, first_line(r)))
        })
        .or_else(|| f.reason.as_ref().map(|r| first_line(r).to_string()))
}

/// The last lines of a log that fit in `budget` characters (joined by newlines), each first cut
/// to `line_max` and passed through `map` (escaping). The end of a log is where the error is,
/// so earlier lines go first. Returns the kept lines and how many were dropped.
pub fn tail_fitting(
    lines: &[String],
    budget: usize,
    line_max: usize,
    map: impl Fn(&str) -> String,
) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    let mut used = 0;
    for line in lines.iter().rev() {
        let l = map(&truncate(line, line_max));
        let cost = l.chars().count() + 1;
        if used + cost > budget {
            break;
        }
        used += cost;
        kept.push(l);
    }
    kept.reverse();
    let dropped = lines.len() - kept.len();
    (kept, dropped)
}

/// An action's failed tests as lines, first under the action in every sink: "🧪 13 of 2,002
/// tests failed", the first `max` cases ("✗ Cart › renders &lt;CartTotal&gt;: Expected: "¥1,980" ·
/// Received: "¥2,200"", the message's lines joined, each case cut to `line_max` before `map`,
/// the sink's escaping), then "…and 11 more failed tests". Empty when the action has no test
/// report.
pub fn test_lines(
    a: &crate::notification::FailedActionInfo,
    max: usize,
    line_max: usize,
    map: impl Fn(&str) -> String,
) -> Vec<String> {
    let failed = a
        .tests_failed
        .unwrap_or(0)
        .max(u64::try_from(a.tests.len()).unwrap_or(u64::MAX));
    if failed == 0 {
        return Vec::new();
    }
    let noun = if failed == 1 { "test" } else { "tests" };
    let mut out = vec![map(&match a.tests_total {
        Some(total) if total >= failed => format!(
            "🧪 {} of {} {noun} failed",
            thousands(usize::try_from(failed).unwrap_or(usize::MAX)),
            thousands(usize::try_from(total).unwrap_or(usize::MAX))
        ),
        _ => format!(
            "🧪 {} {noun} failed",
            thousands(usize::try_from(failed).unwrap_or(usize::MAX))
        ),
    })];
    let shown = a.tests.iter().take(max);
    for t in shown.clone() {
        let mut l = match &t.suite {
            Some(s) if !t.name.starts_with(s.as_str()) => format!("✗ {s} › {}", t.name),
            _ => format!("✗ {}", t.name),
        };
        if t.status != "FAILED" {
            l.push_str(&format!(" ({})", t.status));
        }
        if let Some(m) = &t.message {
            let m: Vec<&str> = m.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            if !m.is_empty() {
                l.push_str(": ");
                l.push_str(&m.join(" · "));
            }
        }
        out.push(map(&truncate(&l, line_max)));
    }
    let more = failed.saturating_sub(u64::try_from(shown.count()).unwrap_or(0));
    if more > 0 {
        out.push(format!(
            "…and {} more failed {}",
            thousands(usize::try_from(more).unwrap_or(usize::MAX)),
            if more == 1 { "test" } else { "tests" }
        ));
    }
    out
}

/// Says which lines of a log a message shows: "Log from line 1,482 of 2,310, at the first
/// error" or "Last 40 of 2,310 log lines". None when the lines came from no log Herald read.
pub fn log_caption(
    region: Option<&crate::notification::LogRegion>,
    shown: usize,
) -> Option<String> {
    let r = region?;
    Some(if r.kind == "error" {
        format!(
            "Log from line {} of {}, at the first error",
            thousands(r.from_line),
            thousands(r.of_lines)
        )
    } else {
        format!(
            "Last {} of {} log lines",
            thousands(shown),
            thousands(r.of_lines)
        )
    })
}

/// `1482` → `1,482`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The lines of a log excerpt that fit in `budget`, with the note on what was left out: an
/// error region keeps its first lines (the error is at its top) and its last (the exit line),
/// a tail its last ones ([`tail_fitting`]).
pub fn log_fitting(
    lines: &[String],
    region: Option<&crate::notification::LogRegion>,
    budget: usize,
    line_max: usize,
    map: impl Fn(&str) -> String,
) -> (Vec<String>, Option<String>) {
    if region.is_none_or(|r| r.kind != "error") {
        let (kept, dropped) = tail_fitting(lines, budget, line_max, map);
        return (
            kept,
            (dropped > 0).then(|| format!("…({dropped} earlier lines)")),
        );
    }
    let mapped: Vec<String> = lines.iter().map(|l| map(&truncate(l, line_max))).collect();
    let cost = |l: &String| l.chars().count() + 1;
    if mapped.iter().map(cost).sum::<usize>() <= budget {
        return (mapped, None);
    }
    // Room for the note, then the last line, then as many first lines as fit; nothing when
    // not even those fit (the caller then shows no log).
    let last = mapped.last().cloned().unwrap_or_default();
    let mut used = cost(&last) + 24;
    if used > budget {
        return (Vec::new(), None);
    }
    let mut kept = Vec::new();
    for l in &mapped[..mapped.len() - 1] {
        if used + cost(l) > budget {
            break;
        }
        used += cost(l);
        kept.push(l.clone());
    }
    let dropped = mapped.len() - 1 - kept.len();
    kept.push(format!("…({dropped} more lines)"));
    kept.push(last);
    (kept, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1482), "1,482");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn an_error_region_keeps_its_top_and_its_exit_line() {
        let r = crate::notification::LogRegion {
            from_line: 10,
            of_lines: 100,
            kind: "error".into(),
        };
        let lines: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
        let (kept, note) = log_fitting(&lines, Some(&r), 60, 100, str::to_owned);
        assert_eq!(note, None);
        assert_eq!(
            kept,
            [
                "line 0",
                "line 1",
                "line 2",
                "line 3",
                "…(5 more lines)",
                "line 9"
            ]
        );
        let (kept, note) = log_fitting(&lines, None, 20, 100, str::to_owned);
        assert_eq!(
            (kept.len(), note.as_deref()),
            (2, Some("…(8 earlier lines)"))
        );
        assert_eq!(
            log_caption(Some(&r), 6).as_deref(),
            Some("Log from line 10 of 100, at the first error")
        );
    }

    #[test]
    fn failed_tests_are_counted_listed_and_the_rest_summed_up() {
        use crate::notification::{FailedActionInfo, FailedTest};
        let t = |name: &str, status: &str, message: Option<&str>| FailedTest {
            name: name.into(),
            suite: Some("Cart".into()),
            file: None,
            status: status.into(),
            message: message.map(str::to_owned),
        };
        let mut a = FailedActionInfo {
            tests: vec![
                t(
                    "renders <CartTotal>",
                    "FAILED",
                    Some("Expected: 1\n\n  Received: 2"),
                ),
                t("Cart totals", "ERROR", None),
            ],
            tests_failed: Some(14),
            tests_total: Some(2_002),
            ..Default::default()
        };
        assert_eq!(
            test_lines(&a, 5, 300, str::to_owned),
            [
                "🧪 14 of 2,002 tests failed",
                "✗ Cart › renders <CartTotal>: Expected: 1 · Received: 2",
                "✗ Cart totals (ERROR)",
                "…and 12 more failed tests",
            ]
        );
        assert_eq!(test_lines(&a, 1, 300, str::to_owned).len(), 3);
        a.tests_total = None;
        a.tests_failed = None;
        assert_eq!(
            test_lines(&a, 5, 300, str::to_owned)[0],
            "🧪 2 tests failed"
        );
        assert!(test_lines(&FailedActionInfo::default(), 5, 300, str::to_owned).is_empty());
    }

    #[test]
    fn truncation_counts_characters_and_shows_an_ellipsis() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("日本語のコミット", 4), "日本語…");
    }
}
