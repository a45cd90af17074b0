//! Rendering: the notification model to what each kind of destination shows. Pure functions.

pub mod amazonq;
pub mod digest;
pub mod discord;
pub mod slack;
pub mod teams;
pub mod text;

/// The emoji a status reads as in chat.
pub fn status_emoji(status: &str) -> &'static str {
    use crate::notification::status::*;
    match status {
        SUCCEEDED | OK => "✅",
        FAILED | ALARM => "❌",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_shows_an_ellipsis() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("日本語のコミット", 4), "日本語…");
    }
}
