//! The status page as server-rendered HTML with its inline style and script (pure).

use super::*;

/// The whole page: all `rows` feed the account choices and the embedded data the script
/// filters on the client; only those matching `filters` are rendered server-side.
pub fn render_page(rows: &[PipelineRow], filters: &Filters, now: DateTime<Utc>) -> String {
    let shown: Vec<&PipelineRow> = rows.iter().filter(|r| filters.matches(r)).collect();
    let doc = PipelinesDoc {
        generated_at: now,
        pipelines: rows.to_vec(),
    };
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>Herald: pipelines</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n<header>\n<h1>Herald <span>pipelines</span></h1>\n");
    let _ = writeln!(
        h,
        "<p id=\"summary\" class=\"summary\">{}</p>",
        esc(&summary(&shown, rows.len()))
    );
    h.push_str("</header>\n<form id=\"filters\" method=\"get\" action=\"\">\n");
    h.push_str("<label>Account <select id=\"f-account\" name=\"account\">");
    h.push_str("<option value=\"\">all accounts</option>");
    for (value, label) in account_choices(rows, filters.account.as_deref()) {
        let sel = if filters.account.as_deref() == Some(value.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(&value),
            esc(&label)
        );
    }
    h.push_str("</select></label>\n<label>Status <select id=\"f-status\" name=\"status\">");
    h.push_str("<option value=\"\">any status</option>");
    let wanted = filters.status.as_deref().map(str::to_ascii_uppercase);
    let mut statuses: Vec<String> = PIPELINE_STATUSES.iter().map(|s| s.to_string()).collect();
    if let Some(w) = &wanted {
        if !statuses.contains(w) {
            statuses.push(w.clone());
        }
    }
    for s in &statuses {
        let sel = if wanted.as_deref() == Some(s.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(s),
            esc(&s.replace('_', " ").to_lowercase())
        );
    }
    h.push_str("</select></label>\n<button id=\"apply\" type=\"submit\">Apply</button>\n");
    let _ = writeln!(
        h,
        "<span id=\"updated\" class=\"updated\" data-refreshes=\"0\">as of {}</span>",
        esc(&now.format("%Y-%m-%d %H:%M:%S UTC").to_string())
    );
    h.push_str("</form>\n<main>\n<table id=\"pipelines\">\n<thead><tr>");
    for c in [
        "Status", "Pipeline", "Account", "Stage", "Started", "Duration", "Links",
    ] {
        let _ = write!(h, "<th scope=\"col\">{c}</th>");
    }
    h.push_str("</tr></thead>\n<tbody id=\"rows\">\n");
    for r in &shown {
        render_row(&mut h, r);
    }
    h.push_str("</tbody>\n</table>\n");
    let empty = if rows.is_empty() {
        "No pipeline execution seen yet."
    } else {
        "No pipeline matches these filters."
    };
    let _ = writeln!(
        h,
        "<p id=\"empty\" class=\"empty\"{}>{}</p>",
        if shown.is_empty() { "" } else { " hidden" },
        esc(empty)
    );
    h.push_str("</main>\n<footer>Newest execution per pipeline, as Herald saw its events. ");
    let _ = writeln!(
        h,
        "Refreshes every {REFRESH_SECS} s; JSON at <a href=\"api/pipelines\">/api/pipelines</a>.</footer>"
    );
    h.push_str("<script id=\"herald-data\" type=\"application/json\">");
    h.push_str(&script_json(&doc));
    h.push_str("</script>\n<script>");
    h.push_str(JS);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

fn summary(shown: &[&PipelineRow], total: usize) -> String {
    let count = |want: &[&str]| {
        shown
            .iter()
            .filter(|r| want.contains(&r.status.as_str()))
            .count()
    };
    let mut s = if shown.len() == total {
        format!("{total} pipeline{}", if total == 1 { "" } else { "s" })
    } else {
        format!("{} of {total} pipelines", shown.len())
    };
    for (n, label) in [
        (count(&[status::FAILED]), "failed"),
        (
            count(&[status::STARTED, status::IN_PROGRESS]),
            "in progress",
        ),
        (
            count(&[status::WAITING_FOR_APPROVAL]),
            "waiting for approval",
        ),
        (count(&[status::SUCCEEDED]), "succeeded"),
    ] {
        if n > 0 {
            let _ = write!(s, " · {n} {label}");
        }
    }
    s
}

/// (value, label) for each account in the rows, plus the filtered one if no row has it.
fn account_choices(rows: &[PipelineRow], filtered: Option<&str>) -> Vec<(String, String)> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for r in rows {
        seen.entry(r.account.clone())
            .or_insert_with(|| r.account_label());
    }
    if let Some(f) = filtered {
        let known = rows
            .iter()
            .any(|r| r.account == f || r.account_alias.as_deref() == Some(f));
        if !known {
            seen.insert(f.to_owned(), f.to_owned());
        }
    }
    seen.into_iter().collect()
}

/// CSS class for a status: the colour family it is drawn in.
pub fn status_class(s: &str) -> &'static str {
    match s {
        status::SUCCEEDED => "ok",
        status::FAILED => "bad",
        status::STARTED | status::IN_PROGRESS => "run",
        status::WAITING_FOR_APPROVAL => "wait",
        _ => "off",
    }
}

fn render_row(h: &mut String, r: &PipelineRow) {
    let cls = status_class(&r.status);
    let _ = write!(
        h,
        "<tr class=\"row-{cls}\" data-account=\"{}\" data-status=\"{}\">",
        esc(&r.account),
        esc(&r.status)
    );
    let _ = write!(
        h,
        "<td><span class=\"pill {cls}\">{}</span></td>",
        esc(&r.status.replace('_', " "))
    );
    let _ = write!(h, "<td><div class=\"name\">{}</div>", esc(&r.pipeline));
    if let Some(id) = &r.execution_id {
        let _ = write!(
            h,
            "<div class=\"sub mono\" title=\"execution {}\">{}</div>",
            esc(id),
            esc(short_id(id))
        );
    }
    h.push_str("</td>");
    let _ = write!(
        h,
        "<td><div>{}</div><div class=\"sub\">{}</div></td>",
        esc(r.account_alias.as_deref().unwrap_or(&r.account)),
        esc(&match &r.account_alias {
            Some(_) => format!("{} · {}", r.account, r.region),
            None => r.region.clone(),
        })
    );
    let _ = write!(
        h,
        "<td><div>{}</div><div class=\"stages\">",
        esc(r.stage.as_deref().unwrap_or("—"))
    );
    for s in &r.stages {
        let _ = write!(
            h,
            "<span class=\"dot {}\" title=\"{}: {}\"></span>",
            status_class(&s.status),
            esc(&s.name),
            esc(&s.status)
        );
    }
    h.push_str("</div></td>");
    match (r.age_secs, r.started_at) {
        (Some(age), Some(at)) => {
            let _ = write!(
                h,
                "<td class=\"when\" title=\"{}\">{} ago</td>",
                esc(&at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                esc(&human_secs(age))
            );
        }
        _ => h.push_str("<td class=\"when\">—</td>"),
    }
    let _ = write!(
        h,
        "<td class=\"dur\">{}</td>",
        esc(&r
            .duration_secs
            .map(human_secs)
            .unwrap_or_else(|| "—".into()))
    );
    h.push_str("<td class=\"links\">");
    if let Some(u) = &r.console_url {
        let _ = write!(
            h,
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">Console</a>",
            esc(u)
        );
    }
    for c in &r.chat {
        match c.url.as_deref().and_then(safe_url) {
            Some(u) => {
                let _ = write!(
                    h,
                    "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\" title=\"chat thread at {}\">Chat: {}</a>",
                    esc(u),
                    esc(&c.destination),
                    esc(&c.destination)
                );
            }
            None => {
                let _ = write!(
                    h,
                    "<span class=\"chat\" title=\"chat message at {}\">{}: {}</span>",
                    esc(&c.destination),
                    esc(&c.destination),
                    esc(&c.state)
                );
            }
        }
    }
    h.push_str("</td></tr>\n");
}

/// The first block of a UUID, which tells executions apart at a glance.
pub(super) fn short_id(id: &str) -> &str {
    id.split('-').next().filter(|s| s.len() >= 6).unwrap_or(id)
}

pub use crate::render::duration as human_secs;

/// Only web links are rendered as links: a `javascript:` URL from a crafted event must not be.
pub(super) fn safe_url(u: &str) -> Option<&str> {
    (u.starts_with("https://") || u.starts_with("http://")).then_some(u)
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element: no `<`, `>` or `&` can end it early.
fn script_json(doc: &PipelinesDoc) -> String {
    serde_json::to_string(doc)
        .unwrap_or_else(|_| "{\"pipelines\":[]}".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub(super) fn percent_encode(s: &str) -> String {
    // Everything but RFC 3986's unreserved characters.
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

pub(super) const CSS: &str = r#"
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#667085;--line:#e3e6eb;--card:#fff;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#c62828;--bad-bg:#ffe4e4;--run:#0b63c9;--run-bg:#dbeafe;
--wait:#9a6700;--wait-bg:#fff4c2;--off:#57606a;--off-bg:#eaeef2}
@media (prefers-color-scheme:dark){:root{--bg:#0f1217;--fg:#e6e9ef;--muted:#9aa4b2;--line:#2a303a;
--card:#161a21;--ok-bg:#12361f;--bad-bg:#3d1414;--run-bg:#10284a;--wait-bg:#3a2e08;--off-bg:#262c35;
--ok:#56d364;--bad:#ff7b72;--run:#79b8ff;--wait:#e3b341;--off:#9aa4b2}}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{display:flex;align-items:baseline;gap:16px;flex-wrap:wrap}
h1{font-size:20px;margin:0}h1 span{font-weight:400;color:var(--muted)}
.summary{margin:0;color:var(--muted)}
form{display:flex;gap:16px;align-items:center;margin:16px 0;flex-wrap:wrap}
label{color:var(--muted)}
select{margin-left:6px;padding:4px 6px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg);font:inherit}
button{padding:4px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);
color:var(--fg);font:inherit}
body.js #apply{display:none}
.updated{margin-left:auto;color:var(--muted);font-size:12px}
.updated.error{color:var(--bad)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);
border-radius:8px;overflow:hidden}
th{text-align:left;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);padding:10px 12px;border-bottom:1px solid var(--line)}
td{padding:10px 12px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
tr.row-bad td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
.name{font-weight:600;overflow-wrap:break-word}
.when,.dur{white-space:nowrap}
.sub{color:var(--muted);font-size:12px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.pill{display:inline-block;padding:2px 8px;border-radius:999px;font-size:12px;font-weight:600;
white-space:nowrap}
.pill.ok{color:var(--ok);background:var(--ok-bg)}.pill.bad{color:var(--bad);background:var(--bad-bg)}
.pill.run{color:var(--run);background:var(--run-bg)}.pill.wait{color:var(--wait);background:var(--wait-bg)}
.pill.off{color:var(--off);background:var(--off-bg)}
.stages{display:flex;gap:4px;margin-top:4px}
.dot{width:10px;height:10px;border-radius:50%;display:inline-block}
.dot.ok{background:var(--ok)}.dot.bad{background:var(--bad)}.dot.run{background:var(--run)}
.dot.wait{background:var(--wait)}.dot.off{background:var(--off)}
.links a,.links .chat{display:inline-block;margin-right:10px;white-space:nowrap}
.links .chat{color:var(--muted)}
a{color:var(--run)}
.empty{color:var(--muted);padding:24px;text-align:center}
footer{margin-top:16px;color:var(--muted);font-size:12px}
"#;

/// Renders rows from `/api/pipelines` exactly as the server does, builds every element with
/// `textContent` (never `innerHTML`), filters on the client, and keeps the URL's query in step
/// with the filters so a reload shows the same view.
pub(super) const JS: &str = r#"
(function () {
  "use strict";
  var REFRESH_MS = 5000;
  var data = JSON.parse(document.getElementById("herald-data").textContent);
  var accountSel = document.getElementById("f-account");
  var statusSel = document.getElementById("f-status");
  var tbody = document.getElementById("rows");
  var empty = document.getElementById("empty");
  var summary = document.getElementById("summary");
  var updated = document.getElementById("updated");
  var refreshes = 0;

  function human(s) {
    s = Math.max(0, Math.floor(s));
    var m = 60, h = 3600, d = 86400, y = 365 * d;
    if (s < m) return s + "s";
    if (s < h) return Math.floor(s / m) + "m " + (s % m) + "s";
    if (s < d) return Math.floor(s / h) + "h " + Math.floor(s % h / m) + "m";
    if (s < y) return Math.floor(s / d) + "d " + Math.floor(s % d / h) + "h";
    return Math.floor(s / y) + "y " + Math.floor(s % y / d) + "d";
  }
  function cls(status) {
    switch (status) {
      case "SUCCEEDED": return "ok";
      case "FAILED": return "bad";
      case "STARTED": case "IN_PROGRESS": return "run";
      case "WAITING_FOR_APPROVAL": return "wait";
      default: return "off";
    }
  }
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function safeUrl(u) {
    return typeof u === "string" && /^https?:\/\//.test(u) ? u : null;
  }
  function link(href, text, title) {
    var a = el("a", null, text);
    a.href = href; a.rel = "noopener noreferrer"; a.target = "_blank";
    if (title) a.title = title;
    return a;
  }
  function shortId(id) {
    var first = id.split("-")[0];
    return first.length >= 6 ? first : id;
  }
  function utc(iso) {
    return iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC");
  }
  function matches(r) {
    var a = accountSel.value, s = statusSel.value;
    if (a && r.account !== a && r.account_alias !== a) return false;
    if (s && r.status.toUpperCase() !== s.toUpperCase()) return false;
    return true;
  }
  function accountLabel(r) {
    return r.account_alias ? r.account_alias + " (" + r.account + ")" : r.account;
  }
  function syncAccounts(rows) {
    var have = {};
    for (var i = 0; i < accountSel.options.length; i++) have[accountSel.options[i].value] = true;
    var add = rows.filter(function (r) { return !have[r.account]; })
      .sort(function (x, y) { return x.account < y.account ? -1 : 1; });
    add.forEach(function (r) {
      if (have[r.account]) return;
      have[r.account] = true;
      var o = el("option", null, accountLabel(r));
      o.value = r.account;
      accountSel.appendChild(o);
    });
  }
  function row(r) {
    var c = cls(r.status);
    var tr = el("tr", "row-" + c);
    tr.dataset.account = r.account;
    tr.dataset.status = r.status;
    var td = el("td");
    td.appendChild(el("span", "pill " + c, r.status.replace(/_/g, " ")));
    tr.appendChild(td);

    td = el("td");
    td.appendChild(el("div", "name", r.pipeline));
    if (r.execution_id) {
      var ex = el("div", "sub mono", shortId(r.execution_id));
      ex.title = "execution " + r.execution_id;
      td.appendChild(ex);
    }
    tr.appendChild(td);

    td = el("td");
    td.appendChild(el("div", null, r.account_alias || r.account));
    td.appendChild(el("div", "sub", r.account_alias ? r.account + " · " + r.region : r.region));
    tr.appendChild(td);

    td = el("td");
    td.appendChild(el("div", null, r.stage || "—"));
    var dots = el("div", "stages");
    (r.stages || []).forEach(function (s) {
      var d = el("span", "dot " + cls(s.status));
      d.title = s.name + ": " + s.status;
      dots.appendChild(d);
    });
    td.appendChild(dots);
    tr.appendChild(td);

    if (r.age_secs !== null && r.age_secs !== undefined && r.started_at) {
      td = el("td", "when", human(r.age_secs) + " ago");
      td.title = utc(r.started_at);
    } else {
      td = el("td", "when", "—");
    }
    tr.appendChild(td);
    tr.appendChild(el("td", "dur",
      r.duration_secs !== null && r.duration_secs !== undefined ? human(r.duration_secs) : "—"));

    td = el("td", "links");
    var consoleUrl = safeUrl(r.console_url);
    if (consoleUrl) td.appendChild(link(consoleUrl, "Console"));
    (r.chat || []).forEach(function (ch) {
      var u = safeUrl(ch.url);
      if (u) {
        td.appendChild(link(u, "Chat: " + ch.destination, "chat thread at " + ch.destination));
      } else {
        var s = el("span", "chat", ch.destination + ": " + ch.state);
        s.title = "chat message at " + ch.destination;
        td.appendChild(s);
      }
    });
    tr.appendChild(td);
    return tr;
  }
  function render() {
    var rows = data.pipelines || [];
    syncAccounts(rows);
    var shown = rows.filter(matches);
    var frag = document.createDocumentFragment();
    shown.forEach(function (r) { frag.appendChild(row(r)); });
    tbody.replaceChildren(frag);
    empty.textContent = rows.length ? "No pipeline matches these filters." : "No pipeline execution seen yet.";
    empty.hidden = shown.length > 0;
    var text = shown.length === rows.length
      ? rows.length + (rows.length === 1 ? " pipeline" : " pipelines")
      : shown.length + " of " + rows.length + " pipelines";
    [[["FAILED"], "failed"], [["STARTED", "IN_PROGRESS"], "in progress"],
     [["WAITING_FOR_APPROVAL"], "waiting for approval"], [["SUCCEEDED"], "succeeded"]]
      .forEach(function (p) {
        var n = shown.filter(function (r) { return p[0].indexOf(r.status) >= 0; }).length;
        if (n > 0) text += " · " + n + " " + p[1];
      });
    summary.textContent = text;
  }
  function syncUrl() {
    var q = new URLSearchParams();
    if (accountSel.value) q.set("account", accountSel.value);
    if (statusSel.value) q.set("status", statusSel.value);
    var s = q.toString();
    history.replaceState(null, "", s ? "?" + s : location.pathname);
  }
  function onChange() { syncUrl(); render(); }
  accountSel.addEventListener("change", onChange);
  statusSel.addEventListener("change", onChange);
  document.getElementById("filters").addEventListener("submit", function (e) {
    e.preventDefault(); onChange();
  });

  function refresh() {
    fetch("api/pipelines", { cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        data = d;
        refreshes += 1;
        render();
        updated.className = "updated";
        updated.dataset.refreshes = String(refreshes);
        updated.textContent = "updated " + utc(d.generated_at).replace(/^\S+ /, "") + ", every " + REFRESH_MS / 1000 + " s";
      })
      .catch(function (e) {
        updated.className = "updated error";
        updated.textContent = "refresh failed (" + e.message + "); showing the last data";
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  document.body.classList.add("js");
  render();
  refresh();
})();
"#;
