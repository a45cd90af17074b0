//! What the fuzz targets check of each input, shared with the test suite
//! (`tests/fuzz_regressions.rs` runs it over the inputs kept in `tests/fixtures/fuzz/`): a
//! function per target that panics when a property fails.
#![allow(dead_code)] // each target uses one of them

use std::sync::OnceLock;

/// Any bytes a queue may hand over: decoding never panics, and what decodes has a kind and
/// metadata.
pub fn decode(data: &[u8]) {
    if let Ok(events) = herald::event::decode(data) {
        for ev in &events {
            let _ = ev.kind();
            let _ = ev.meta();
        }
    }
}

fn notification() -> &'static serde_json::Value {
    static N: OnceLock<serde_json::Value> = OnceLock::new();
    N.get_or_init(|| {
        serde_json::json!({
            "kind": "pipeline", "status": "FAILED", "final": true,
            "account": "111122223333", "account_name": "prod", "region": "eu-west-1",
            "pipeline": "checkout-api", "title": "checkout-api",
            "stages": [{"name": "Build", "status": "FAILED"}],
            "failure": {"stage": "Build", "action": "Build", "reason": "exit status 2"},
            "duration_secs": 312, "tags": {"team": "payments"}
        })
    })
}

/// Any routing expression: parsing never panics; one that parses evaluates against a
/// notification, and prints as text that parses back to the same expression (printed the
/// same, matching the same).
pub fn route_expr(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = herald::route::expr::Expr::parse(src) else {
        return;
    };
    let matched = expr.matches(notification());
    let printed = expr.to_string();
    let again = herald::route::expr::Expr::parse(&printed)
        .unwrap_or_else(|e| panic!("{src:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(
        again.to_string(),
        printed,
        "{src:?}: printing is not stable"
    );
    assert_eq!(
        again.matches(notification()),
        matched,
        "{src:?}: its printed form matches otherwise"
    );
}

/// Any config text: loading never panics; it is a config or an error naming its origin.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = herald::config::Config::from_toml(text, "fuzz.toml") {
        assert!(
            e.to_string().contains("fuzz.toml"),
            "an error that names no origin: {e}"
        );
    }
}
