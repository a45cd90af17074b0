#!/usr/bin/env python3
"""Draws a Slack chat.postMessage body (Block Kit: header, attachment colour bar, section,
context and actions blocks, mrkdwn) as HTML in Slack's light theme, for the README picture.

An approximation of Slack's own rendering, made from the exact JSON Herald sends:

    python3 docs/slack_preview.py tests/golden/build-failure.slack.json > /tmp/slack.html
    chromium --headless --hide-scrollbars --window-size=760,1400 \
        --screenshot=docs/slack-failure.png /tmp/slack.html
"""

import html
import json
import re
import sys

CSS = """
body { margin: 0; background: #fff; font: 15px/1.46668 'Lato', 'Liberation Sans', 'IPAGothic',
       'Noto Color Emoji', sans-serif; color: #1d1c1d; }
.msg { display: flex; padding: 16px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
          font-weight: 900; display: flex; align-items: center; justify-content: center;
          margin-right: 8px; flex: none; }
.name { font-weight: 900; } .app { font-size: 10px; background: #e8e8e8; color: #616061;
        padding: 1px 3px; border-radius: 2px; margin-left: 4px; vertical-align: 2px; }
.time { color: #616061; font-size: 12px; margin-left: 6px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.att { display: flex; margin-top: 4px; }
.bar { width: 4px; border-radius: 8px; flex: none; margin-right: 12px; }
.blocks { min-width: 0; }
.section { margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
.context { font-size: 13px; color: #616061; margin: 4px 0; white-space: pre-wrap; }
code { font: 12px Monaco, Menlo, monospace; color: #e01e5a; background: #f8f8f8;
       border: 1px solid #e8e8e8; border-radius: 3px; padding: 1px 3px; }
pre { font: 12px/1.5 Monaco, Menlo, monospace; background: #f8f8f8; border: 1px solid #e8e8e8;
      border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap;
      word-break: break-all; }
a { color: #1264a3; text-decoration: none; }
blockquote { border-left: 4px solid #ddd; margin: 2px 0; padding-left: 12px; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
.btn { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px;
       font-weight: 700; font-size: 13px; margin: 4px 8px 4px 0; }
.btn.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
"""


def styled(s):
    """Bold, italics and inline code."""
    s = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", s)
    s = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", s)
    return re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", s)


def inline(text):
    """mrkdwn without code blocks: links (whose labels may be styled), mentions, styles."""
    out = []
    pos = 0
    for m in re.finditer(r"<(https?://[^|>]+)(?:\|([^>]+))?>|<@([A-Z0-9]+)>", text):
        out.append(styled(text[pos : m.start()]))
        if m.group(3):
            out.append('<span class="mention">@%s</span>' % m.group(3))
        else:
            out.append('<a href="%s">%s</a>' % (m.group(1), styled(m.group(2) or m.group(1))))
        pos = m.end()
    out.append(styled(text[pos:]))
    return "".join(out)


def mrkdwn(text):
    # Slack's text arrives escaped (&amp; &lt; &gt;), which is already HTML.
    parts = re.split(r"```\n?(.*?)\n?```", text, flags=re.S)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append("<pre>%s</pre>" % part)
            continue
        lines = []
        for line in part.split("\n"):
            # A raw `>` starts a quote; an escaped one (`&gt;`) is text.
            if line.startswith("> "):
                lines.append("<blockquote>%s</blockquote>" % inline(line[2:]))
            else:
                lines.append(inline(line))
        out.append("\n".join(lines).strip("\n"))
    return "".join(out)


def block(b):
    t = b.get("type")
    if t == "header":
        return '<div class="header">%s</div>' % html.escape(b["text"]["text"])
    if t == "section":
        return '<div class="section">%s</div>' % mrkdwn(b["text"]["text"])
    if t == "context":
        return '<div class="context">%s</div>' % " ".join(
            mrkdwn(e.get("text", "")) for e in b.get("elements", [])
        )
    if t == "actions":
        return "<div>%s</div>" % "".join(
            '<span class="btn %s">%s</span>'
            % (e.get("style", ""), html.escape(e["text"]["text"]))
            for e in b.get("elements", [])
        )
    return ""


def main():
    body = json.load(open(sys.argv[1], encoding="utf-8"))
    parts = [block(b) for b in body.get("blocks", [])]
    for a in body.get("attachments", []):
        inner = "".join(block(b) for b in a.get("blocks", []))
        parts.append(
            '<div class="att"><div class="bar" style="background:%s"></div>'
            '<div class="blocks">%s</div></div>' % (a.get("color", "#ddd"), inner)
        )
    print(
        "<!doctype html><meta charset=utf-8><style>%s</style>"
        '<div class="msg"><div class="avatar">H</div><div class="blocks">'
        '<div><span class="name">Herald</span><span class="app">APP</span>'
        '<span class="time">10:15 AM</span></div>%s</div></div>' % (CSS, "".join(parts))
    )


if __name__ == "__main__":
    main()
