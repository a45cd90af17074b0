//! Routing expressions: a rule's `match`, parsed once at config load, evaluated per notification.
//!
//! The notification is seen as JSON (`serde_json::Value`), so this module knows no Herald types
//! and stays pure: no I/O, no clock, regexes compiled once in [`Expr::parse`].
//!
//! # Grammar
//!
//! ```text
//! expr      := ws* ( "*" | "" ) ws*  |  or          -- "*", empty or blank: match everything
//! or        := and ( "|" and )*
//! and       := unary ( "&" unary )*
//! unary     := "!" unary | primary                  -- "!" binds tightest
//! primary   := "(" or ")" | predicate
//! predicate := path ( ":" | "~" ) value             -- ":" equals, "~" regex (unanchored)
//! path      := segment ( "." segment )*             -- segment: [A-Za-z0-9_-]+
//! value     := quoted | bare
//! quoted    := '"' ( '\"' | '\\' | any other char )* '"'
//! ```
//!
//! Whitespace around every operator is ignored. A bare value runs until `&`, `|`, `)` or the end
//! of input and loses its trailing whitespace, so it may contain `:`, `~`, `!` and `(`. A quoted
//! value may contain anything; `\"` and `\\` are its escapes and any other backslash is kept
//! as written, so `"\d+|x"` is the regex `\d+|x`. `""` is the empty string: `field~""` tests that
//! a scalar field is present.
//!
//! A bare *regex* also keeps a `&`, `|` or `)` that sits inside one of its own groups or
//! character classes, or after a backslash. That goes one step past "a bare value stops at
//! `|`": Meerkat's README routes with `alert.name~.*(Critical|High).*`, which has to mean the
//! regex to be of any use. The step is safe: any regex whose groups do not balance fails to
//! compile, so a group can never silently swallow the rest of an expression.
//!
//! # Matching
//!
//! - A path walks objects by key. On an array, a numeric segment indexes it and any other
//!   segment is applied to every element, so `failure.actions.provider:CodeBuild` asks whether
//!   any failed action ran on CodeBuild.
//! - `:` compares text: a string as is, a number or bool by its JSON text (`final:true`).
//!   `~` runs `Regex::is_match` on the same text. An array matches if any element does.
//! - A missing field, `null` or an object never matches `:` or `~`, so `!field:x` holds when
//!   `field` is absent.
//!
//! [`Expr`]'s `Display` is the canonical form: Herald field names (aliases resolved), minimal
//! parentheses, ` & ` and ` | ` spaced, values quoted only when they have to be. It parses back
//! to an equal `Expr`.
//!
//! # Meerkat aliases
//!
//! Meerkat (github.com/quicken/aws-meerkat, a CodePipeline/CloudWatch notifier for Discord and
//! Slack) routes Slack messages with the same operators over its own notification model. Taken
//! from its README ("Slack Message Routing", "Notification Types and Properties"),
//! `src/lib/SlackRoute.ts` and `src/types/common.d.ts`, its names are rewritten to Herald's at
//! parse time, so a Meerkat rule can be pasted into Herald's config and `Display` shows what it
//! means in Herald's terms.
//!
//! | Meerkat | Herald |
//! |---|---|
//! | `type:PipelineNotification` | `kind:pipeline` |
//! | `type:ManualApprovalNotification` | `kind:pipeline & status:WAITING_FOR_APPROVAL` |
//! | `type:AlarmNotification` | `kind:alarm` |
//! | `type:SimpleNotification` (anything its pipeline and alarm bots do not claim) | `!kind:pipeline & !kind:alarm` |
//! | `type:<other>` (e.g. `type:ecs_deployment`) | `kind:<other>` |
//! | `name` (pipeline and approval messages: the pipeline's name) | `pipeline` |
//! | `successfull:true` (Meerkat's spelling; `successful` too) | `kind:pipeline & status:SUCCEEDED` |
//! | `successfull:false` | `kind:pipeline & status:FAILED` |
//! | `alert.type:alarm`, `alert.type:nag` (into, or still in, ALARM) | `kind:alarm & status:ALARM` |
//! | `alert.type:recovered`, `alert.type:healthy` (into, or still in, OK) | `kind:alarm & status:OK` |
//! | `alert.name` | `alarm_name` |
//! | `alert.status` (used in SlackRoute.ts's doc example) | `status` |
//! | `commit.id`, `commit.author` | the same names |
//! | `commit.summary` | `commit.message` |
//! | `commit.link` | `commit.url` |
//! | `failureDetail.type` (`CodeBuild` or `CodeDeploy`) | `failure.actions.provider` |
//! | `approvalAttributes.link` | `approval.review_link` |
//! | `approvalAttributes.comment` | `approval.custom_data` |
//!
//! Meerkat posted a pipeline message only when an execution ended; Herald keeps one living
//! message per execution from its start, so `PipelineNotification` is every pipeline
//! notification, not only final ones, or a thread's first post and its last would be routed
//! by different rules. `ManualApprovalNotification` is the pipeline while it waits.
//!
//! `name` stays the pipeline name rather than becoming "whatever the notification is named":
//! Meerkat never set `name` on alarms, so `name~.*prod.*` must not start matching alarms,
//! builds or ECS services once a rule moves to Herald. On the value-mapped fields (`type`,
//! `successfull`, `alert.type`) a `~` regex is run at parse time over Meerkat's values and
//! becomes the `|` of the matching rows; on `type` a regex matching none of them is applied
//! to `kind` instead.
//!
//! Meerkat fields with no Herald counterpart (`commit.authorEmail`, `alert.description`,
//! `alert.reason`, `alert.date`, `failureDetail.logUrl`, `.id`, `.summary`, `.targets`, and
//! SimpleNotification's `subject` and `message`) are rejected at parse time: left as written
//! they would match nothing, and a migrated rule would go quiet instead of failing
//! `check-config`. Meerkat has no account or region fields, so it has nothing to alias there.
//!
//! Meerkat evaluates by splitting the string on `|`, then `&`, then a leading `!`, and has no
//! parentheses; `&` binding tighter than `|` is kept. Its README examples that use parentheses
//! or `|` inside a regex never matched in Meerkat itself; here they mean what they say.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde_json::Value;

mod meerkat;
use meerkat::predicate;
#[cfg(test)]
use meerkat::{MEERKAT_RENAMES, MEERKAT_UNMAPPED};

/// Deepest run of `(` and `!`. Parsing, evaluation, `Display` and `Drop` recurse on it, so an
/// unbounded input could overflow the stack; no real rule comes near it.
const MAX_NESTING: usize = 64;

/// A parsed routing expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// `None` is `*`: match everything.
    root: Option<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Not(Box<Node>),
    /// Always two or more children, none of them an `And`: flattening at construction is what
    /// lets `Display` drop parentheses and still parse back to an equal tree.
    And(Vec<Node>),
    /// Always two or more children, none of them an `Or`.
    Or(Vec<Node>),
    Eq {
        path: Path,
        value: String,
    },
    Re {
        path: Path,
        re: Pattern,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Path(Vec<String>);

/// A compiled regex compared by its source text, since `Regex` has no `PartialEq`.
#[derive(Clone)]
struct Pattern(Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

/// Why an expression did not parse, and the byte offset in the source where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at {pos}: {kind}")]
pub struct ExprError {
    pos: usize,
    kind: ErrorKind,
}

impl ExprError {
    /// Byte offset into the parsed string.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// What an [`ExprError`] found wrong. `found` fields read `'c'` or `end of input`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("expected {expected}, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
    },
    #[error("expected ':' or '~' after field name \"{field}\", found {found}")]
    ExpectedOperator { field: String, found: String },
    #[error("expected '&', '|' or ')' to close the '(' at {open}, found {found}")]
    UnclosedParen { open: usize, found: String },
    #[error("')' has no matching '('")]
    UnmatchedParen,
    #[error("expected '&', '|' or end of input, found {found}")]
    TrailingInput { found: String },
    #[error("empty value for field \"{field}\" (write \"\" to match an empty string)")]
    EmptyValue { field: String },
    #[error("quoted value has no closing '\"'")]
    UnterminatedQuote,
    #[error("invalid regex for field \"{field}\": {message}")]
    InvalidRegex { field: String, message: String },
    #[error("'(' and '!' nest deeper than {} levels", MAX_NESTING)]
    TooDeep,
    #[error("Meerkat field \"{field}\" takes {allowed}, and {value:?} matches none of them")]
    MeerkatValue {
        field: &'static str,
        allowed: &'static str,
        value: String,
    },
    #[error("Meerkat field \"{field}\" has no Herald equivalent ({hint})")]
    MeerkatUnmapped {
        field: &'static str,
        hint: &'static str,
    },
}

impl Expr {
    /// Parses `src`; an empty, blank or `*` source matches everything.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let trimmed = src.trim();
        if trimmed.is_empty() || trimmed == "*" {
            return Ok(Expr { root: None });
        }
        let mut parser = Parser {
            src,
            pos: 0,
            depth: 0,
        };
        let root = parser.parse_or()?;
        parser.skip_ws();
        match parser.peek() {
            None => Ok(Expr { root: Some(root) }),
            Some(')') => Err(parser.error(ErrorKind::UnmatchedParen)),
            Some(_) => Err(parser.error(ErrorKind::TrailingInput {
                found: parser.found(),
            })),
        }
    }

    /// Whether `notification` (the notification serialised as a JSON object) satisfies this
    /// expression.
    pub fn matches(&self, notification: &Value) -> bool {
        self.root
            .as_ref()
            .is_none_or(|node| node.eval(notification))
    }
}

impl FromStr for Expr {
    type Err = ExprError;

    fn from_str(src: &str) -> Result<Expr, ExprError> {
        Expr::parse(src)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.root {
            None => f.write_str("*"),
            Some(node) => node.write(f, Prec::Or),
        }
    }
}

impl Node {
    fn not(inner: Node) -> Node {
        Node::Not(Box::new(inner))
    }

    fn and(items: Vec<Node>) -> Node {
        Node::join(items, Node::And, |node| match node {
            Node::And(children) => Ok(children),
            other => Err(other),
        })
    }

    fn or(items: Vec<Node>) -> Node {
        Node::join(items, Node::Or, |node| match node {
            Node::Or(children) => Ok(children),
            other => Err(other),
        })
    }

    /// Builds an n-ary node, splicing in children of the same kind and collapsing a single
    /// child to itself, so equal meanings written with different parentheses compare equal.
    fn join(
        items: Vec<Node>,
        make: fn(Vec<Node>) -> Node,
        same_kind: fn(Node) -> Result<Vec<Node>, Node>,
    ) -> Node {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match same_kind(item) {
                Ok(children) => flat.extend(children),
                Err(other) => flat.push(other),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        make(flat)
    }

    fn eq(path: &str, value: &str) -> Node {
        Node::Eq {
            path: Path::from_dotted(path),
            value: value.to_owned(),
        }
    }

    fn eval(&self, notification: &Value) -> bool {
        match self {
            Node::Not(inner) => !inner.eval(notification),
            Node::And(items) => items.iter().all(|item| item.eval(notification)),
            Node::Or(items) => items.iter().any(|item| item.eval(notification)),
            Node::Eq { path, value } => any_scalar(notification, &path.0, |text| text == value),
            Node::Re { path, re } => any_scalar(notification, &path.0, |text| re.0.is_match(text)),
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, ctx: Prec) -> fmt::Result {
        match self {
            Node::Not(inner) => {
                f.write_str("!")?;
                inner.write(f, Prec::Not)
            }
            Node::And(items) => write_joined(f, items, " & ", Prec::And, ctx),
            Node::Or(items) => write_joined(f, items, " | ", Prec::Or, ctx),
            Node::Eq { path, value } => {
                write!(f, "{path}:")?;
                write_value(f, value, false)
            }
            Node::Re { path, re } => {
                write!(f, "{path}~")?;
                write_value(f, re.0.as_str(), true)
            }
        }
    }
}

/// Binding strength, loosest first, for deciding where `Display` needs parentheses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Not,
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Node],
    sep: &str,
    own: Prec,
    ctx: Prec,
) -> fmt::Result {
    let parens = ctx > own;
    if parens {
        f.write_str("(")?;
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item.write(f, own)?;
    }
    if parens {
        f.write_str(")")?;
    }
    Ok(())
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &str, regex: bool) -> fmt::Result {
    if can_be_bare(value, regex) {
        return f.write_str(value);
    }
    f.write_str("\"")?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// A value can be written bare only if the parser's own bare scan would read back exactly it.
fn can_be_bare(value: &str, regex: bool) -> bool {
    if value.is_empty() || value.starts_with('"') || value.trim() != value {
        return false;
    }
    let scan = scan_bare(value, regex);
    scan.end == value.len() && scan.clean
}

impl Path {
    fn from_dotted(dotted: &str) -> Path {
        Path(dotted.split('.').map(str::to_owned).collect())
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Runs `test` on the text of every scalar the path reaches, stopping at the first `true`.
/// Walks with an explicit stack because notification JSON nests arrays in objects in arrays
/// and a path may fan out at each of them.
fn any_scalar(root: &Value, path: &[String], mut test: impl FnMut(&str) -> bool) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(root, 0)];
    while let Some((value, depth)) = stack.pop() {
        let segment = path.get(depth);
        match (value, segment) {
            (Value::Array(items), Some(segment)) => {
                if let Ok(index) = segment.parse::<usize>() {
                    if let Some(item) = items.get(index) {
                        stack.push((item, depth + 1));
                    }
                } else {
                    stack.extend(items.iter().rev().map(|item| (item, depth)));
                }
            }
            (Value::Array(items), None) => {
                stack.extend(items.iter().rev().map(|item| (item, depth)));
            }
            (Value::Object(map), Some(segment)) => {
                if let Some(child) = map.get(segment.as_str()) {
                    stack.push((child, depth + 1));
                }
            }
            (_, Some(_)) | (Value::Null | Value::Object(_), None) => {}
            (Value::String(text), None) => {
                if test(text) {
                    return true;
                }
            }
            (Value::Number(number), None) => {
                if test(&number.to_string()) {
                    return true;
                }
            }
            (Value::Bool(flag), None) => {
                if test(if *flag { "true" } else { "false" }) {
                    return true;
                }
            }
        }
    }
    false
}

/// Where a bare value ends, and whether it ended outside any regex group, class or escape.
struct Scan {
    end: usize,
    clean: bool,
}

/// Finds the end of a bare value. Every byte it acts on is ASCII, and UTF-8 never reuses
/// ASCII bytes inside a multi-byte character, so scanning bytes is safe and every `end` it
/// returns is a char boundary.
fn scan_bare(s: &str, regex: bool) -> Scan {
    let bytes = s.as_bytes();
    if !regex {
        let end = bytes
            .iter()
            .position(|b| matches!(b, b'&' | b'|' | b')'))
            .unwrap_or(bytes.len());
        return Scan { end, clean: true };
    }
    let mut i = 0;
    let mut groups = 0usize;
    let mut classes = 0usize;
    // Right after `[` or `[^` a `]` is a literal in the regex crate, not the class's end.
    let mut class_start = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            if i + 1 >= bytes.len() {
                return Scan {
                    end: bytes.len(),
                    clean: false,
                };
            }
            // Skipping one byte is enough even before a multi-byte character: its
            // continuation bytes are never special.
            i += 2;
            class_start = false;
            continue;
        }
        if b == b'[' {
            classes += 1;
            i += 1;
            if bytes.get(i) == Some(&b'^') {
                i += 1;
            }
            class_start = true;
            continue;
        }
        if classes > 0 {
            if b == b']' && !class_start {
                classes -= 1;
            }
            class_start = false;
            i += 1;
            continue;
        }
        match b {
            b'(' => groups += 1,
            b')' if groups > 0 => groups -= 1,
            b'&' | b'|' | b')' if groups == 0 => break,
            _ => {}
        }
        i += 1;
    }
    Scan {
        end: i,
        clean: groups == 0 && classes == 0,
    }
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Re,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn error(&self, kind: ErrorKind) -> ExprError {
        ExprError {
            pos: self.pos,
            kind,
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(ErrorKind::TooDeep));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Node, ExprError> {
        let mut items = vec![self.parse_and()?];
        loop {
            self.skip_ws();
            if self.peek() != Some('|') {
                break;
            }
            self.pos += 1;
            items.push(self.parse_and()?);
        }
        Ok(Node::or(items))
    }

    fn parse_and(&mut self) -> Result<Node, ExprError> {
        let mut items = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            if self.peek() != Some('&') {
                break;
            }
            self.pos += 1;
            items.push(self.parse_unary()?);
        }
        Ok(Node::and(items))
    }

    fn parse_unary(&mut self) -> Result<Node, ExprError> {
        self.skip_ws();
        if self.peek() == Some('!') {
            self.pos += 1;
            self.enter()?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Node::not(inner));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Node, ExprError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                self.enter()?;
                let inner = self.parse_or()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error(ErrorKind::UnclosedParen {
                        open,
                        found: self.found(),
                    }));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(c) if is_field_char(c) => self.parse_predicate(),
            _ => Err(self.error(ErrorKind::Expected {
                expected: "a field name, '!' or '('",
                found: self.found(),
            })),
        }
    }

    fn parse_predicate(&mut self) -> Result<Node, ExprError> {
        let start = self.pos;
        loop {
            let segment_start = self.pos;
            while self.peek().is_some_and(is_field_char) {
                self.pos += 1;
            }
            if self.pos == segment_start {
                return Err(self.error(ErrorKind::Expected {
                    expected: "a field name after '.'",
                    found: self.found(),
                }));
            }
            if self.peek() != Some('.') {
                break;
            }
            self.pos += 1;
        }
        let field = &self.src[start..self.pos];
        self.skip_ws();
        let op = match self.peek() {
            Some(':') => Op::Eq,
            Some('~') => Op::Re,
            _ => {
                return Err(self.error(ErrorKind::ExpectedOperator {
                    field: field.to_owned(),
                    found: self.found(),
                }))
            }
        };
        self.pos += 1;
        self.skip_ws();
        let value_pos = self.pos;
        let value = if self.peek() == Some('"') {
            self.parse_quoted()?
        } else {
            let scan = scan_bare(&self.src[self.pos..], op == Op::Re);
            let raw = &self.src[self.pos..self.pos + scan.end];
            self.pos += scan.end;
            let value = raw.trim_end();
            if value.is_empty() {
                return Err(ExprError {
                    pos: value_pos,
                    kind: ErrorKind::EmptyValue {
                        field: field.to_owned(),
                    },
                });
            }
            value.to_owned()
        };
        predicate(field, op, value, value_pos)
    }

    fn parse_quoted(&mut self) -> Result<String, ExprError> {
        let open = self.pos;
        let mut out = String::new();
        let mut chars = self.src[open + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = open + 1 + i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                    // Kept as written so regexes like "\d+" need no doubling.
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                other => out.push(other),
            }
        }
        Err(ExprError {
            pos: open,
            kind: ErrorKind::UnterminatedQuote,
        })
    }
}

fn compile(field: &str, pattern: &str, pos: usize) -> Result<Regex, ExprError> {
    Regex::new(pattern).map_err(|err| ExprError {
        pos,
        kind: ErrorKind::InvalidRegex {
            field: field.to_owned(),
            message: err.to_string(),
        },
    })
}

fn plain(field: &str, op: Op, value: String, pos: usize) -> Result<Node, ExprError> {
    let path = Path::from_dotted(field);
    Ok(match op {
        Op::Eq => Node::Eq { path, value },
        Op::Re => Node::Re {
            re: Pattern(compile(field, &value, pos)?),
            path,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(src: &str) -> Expr {
        match Expr::parse(src) {
            Ok(expr) => expr,
            Err(err) => panic!("{src:?} did not parse: {err}"),
        }
    }

    fn parse_err(src: &str) -> ExprError {
        match Expr::parse(src) {
            Ok(expr) => panic!("{src:?} parsed as {expr} but should not"),
            Err(err) => err,
        }
    }

    /// Notifications as Herald serialises them, one per kind that rules usually tell apart.
    fn samples() -> Vec<(&'static str, Value)> {
        vec![
            (
                "pipeline_failed_prod",
                json!({
                    "kind": "pipeline", "status": "FAILED", "final": true,
                    "account": "123456789012", "account_alias": "prod-main", "region": "eu-west-1",
                    "pipeline": "web-prod", "execution_id": "e-1", "trigger": "Webhook",
                    "title": "web-prod: Build failed",
                    "commit": {"id": "abc123", "message": "Fix: handle a|b ~ (edge)",
                               "author": "John Smith", "url": "https://git.example/c/abc123",
                               "provider": "GitHub"},
                    "stages": [{"name": "Source", "status": "SUCCEEDED"},
                               {"name": "Build", "status": "FAILED"}],
                    "failure": {"stage": "Build",
                                "actions": [{"action": "Build", "provider": "CodeBuild",
                                             "reason": "exit 2", "error_code": "JobFailed"}]}
                }),
            ),
            (
                "pipeline_succeeded_test",
                json!({
                    "kind": "pipeline", "status": "SUCCEEDED", "final": true,
                    "account": 210987654321_u64, "region": "us-east-1",
                    "pipeline": "api-test", "execution_id": "e-2",
                    "commit": {"id": "def456", "message": "Bump", "author": "Ann Lee"},
                    "stages": [{"name": "Source", "status": "SUCCEEDED"},
                               {"name": "Deploy", "status": "SUCCEEDED"}]
                }),
            ),
            (
                "approval_staging",
                json!({
                    "kind": "pipeline", "status": "WAITING_FOR_APPROVAL", "final": false,
                    "account": "123456789012", "region": "eu-west-1",
                    "pipeline": "web-staging", "execution_id": "e-3",
                    "approval": {"stage": "Approve", "action": "Manual",
                                 "review_link": "https://review.example/42",
                                 "custom_data": "Please check the canary"}
                }),
            ),
            (
                "alarm_critical",
                json!({
                    "kind": "alarm", "status": "ALARM", "final": false,
                    "account": "123456789012", "region": "eu-west-1",
                    "alarm_name": "Database-CPU-Critical", "title": "CPU > 90%"
                }),
            ),
            (
                "ecs_rolled_back",
                json!({
                    "kind": "ecs_deployment", "status": "ROLLED_BACK", "final": true,
                    "account": "123456789012", "region": "eu-west-1",
                    "cluster": "prod", "service": "checkout", "deployment_id": "ecs-svc/1"
                }),
            ),
        ]
    }

    /// Each row: an expression and the sample names (from `samples`) it must match; it must
    /// match none of the others.
    const TABLE: &[(&str, &[&str])] = &[
        // Meerkat README, "Slack Message Routing" and its complete example.
        (
            "type:PipelineNotification&name~.*prod.*",
            &["pipeline_failed_prod"],
        ),
        (
            "type:PipelineNotification&name~.*test.*",
            &["pipeline_succeeded_test"],
        ),
        (
            "type:AlarmNotification&alert.name~.*Critical.*",
            &["alarm_critical"],
        ),
        (
            "type:PipelineNotification",
            &[
                "pipeline_failed_prod",
                "pipeline_succeeded_test",
                "approval_staging",
            ],
        ),
        ("type:AlarmNotification", &["alarm_critical"]),
        (
            "type:PipelineNotification&successfull:false",
            &["pipeline_failed_prod"],
        ),
        (
            "type:AlarmNotification&alert.name~.*Database.*",
            &["alarm_critical"],
        ),
        (
            "type:AlarmNotification&alert.name~.*(Critical|High).*",
            &["alarm_critical"],
        ),
        (
            "type:PipelineNotification&(name~.*prod.*|name~.*staging.*)",
            &["pipeline_failed_prod", "approval_staging"],
        ),
        (
            "!type:AlarmNotification&!type:PipelineNotification",
            &["ecs_rolled_back"],
        ),
        (
            "type:PipelineNotification&name~.*prod.*&successfull:false",
            &["pipeline_failed_prod"],
        ),
        (
            "type:AlarmNotification&alert.name~.*(Critical|Emergency).*",
            &["alarm_critical"],
        ),
        ("type:ManualApprovalNotification", &["approval_staging"]),
        (
            "!type:AlarmNotification",
            &[
                "pipeline_failed_prod",
                "pipeline_succeeded_test",
                "approval_staging",
                "ecs_rolled_back",
            ],
        ),
        (
            "type:PipelineNotification|type:AlarmNotification",
            &[
                "pipeline_failed_prod",
                "pipeline_succeeded_test",
                "approval_staging",
                "alarm_critical",
            ],
        ),
        ("commit.author~.*John.*", &["pipeline_failed_prod"]),
        ("alert.name:Database-CPU-Critical", &["alarm_critical"]),
        // Meerkat fields that exist in its model but not in the README examples.
        ("type:SimpleNotification", &["ecs_rolled_back"]),
        ("successfull:true", &["pipeline_succeeded_test"]),
        ("alert.type:alarm", &["alarm_critical"]),
        ("alert.type:recovered", &[]),
        ("failureDetail.type:CodeBuild", &["pipeline_failed_prod"]),
        ("commit.summary~^Fix", &["pipeline_failed_prod"]),
        ("approvalAttributes.comment~canary", &["approval_staging"]),
        // SlackRoute.ts doc comment: a field Meerkat's own model never had.
        (
            "type:AlarmNotification&alert.severity:HIGH&alert.status~FAIL.*",
            &[],
        ),
        // Herald names.
        ("kind:pipeline & status:FAILED", &["pipeline_failed_prod"]),
        ("type:ecs_deployment", &["ecs_rolled_back"]),
        ("final:true & !kind:pipeline", &["ecs_rolled_back"]),
        ("account:210987654321", &["pipeline_succeeded_test"]),
        (
            "account:123456789012",
            &[
                "pipeline_failed_prod",
                "approval_staging",
                "alarm_critical",
                "ecs_rolled_back",
            ],
        ),
        ("failure.stage:Build", &["pipeline_failed_prod"]),
        (
            "failure.actions.provider:CodeBuild",
            &["pipeline_failed_prod"],
        ),
        ("stages.name:Deploy", &["pipeline_succeeded_test"]),
        ("stages.1.status:FAILED", &["pipeline_failed_prod"]),
        ("stages.status:FAILED", &["pipeline_failed_prod"]),
        (
            "pipeline~\"prod|staging\"",
            &["pipeline_failed_prod", "approval_staging"],
        ),
        (
            "pipeline~(prod|staging)$",
            &["pipeline_failed_prod", "approval_staging"],
        ),
        (
            "commit.message:\"Fix: handle a|b ~ (edge)\"",
            &["pipeline_failed_prod"],
        ),
        (
            "commit.message~\"a\\|b ~ \\(edge\\)\"",
            &["pipeline_failed_prod"],
        ),
        ("title:web-prod: Build failed", &["pipeline_failed_prod"]),
        ("approval.review_link~\"\"", &["approval_staging"]),
        ("approval~\"\"", &[]),
        (
            "!approval.review_link~.",
            &[
                "pipeline_failed_prod",
                "pipeline_succeeded_test",
                "alarm_critical",
                "ecs_rolled_back",
            ],
        ),
        ("cluster:prod & service~^check", &["ecs_rolled_back"]),
        (
            "  kind : alarm  &  ( status:OK | status : ALARM )  ",
            &["alarm_critical"],
        ),
        ("!!kind:alarm", &["alarm_critical"]),
        ("missing.field:x", &[]),
        (
            "*",
            &[
                "pipeline_failed_prod",
                "pipeline_succeeded_test",
                "approval_staging",
                "alarm_critical",
                "ecs_rolled_back",
            ],
        ),
    ];

    #[test]
    fn table_of_expressions_against_sample_notifications() {
        let samples = samples();
        for (src, expected) in TABLE {
            for name in *expected {
                assert!(
                    samples.iter().any(|(sample, _)| sample == name),
                    "row {src:?} names unknown sample {name}"
                );
            }
            let expr = parse(src);
            for (name, notification) in &samples {
                assert_eq!(
                    expr.matches(notification),
                    expected.contains(name),
                    "{src:?} (canonical {expr}) against {name}"
                );
            }
            let canonical = expr.to_string();
            assert_eq!(
                parse(&canonical),
                expr,
                "{src:?} re-parsed from {canonical:?}"
            );
        }
    }

    #[test]
    fn a_stalled_thread_is_routable() {
        let stalled = json!({"kind": "ecs_deployment", "status": "IN_PROGRESS", "stalled": true,
            "stalled_since": "2024-03-04T09:02:10Z"});
        let quiet = json!({"kind": "ecs_deployment", "status": "IN_PROGRESS"});
        let e = parse("stalled:true & kind:ecs_deployment");
        assert!(e.matches(&stalled));
        assert!(!e.matches(&quiet), "absent is not stalled");
        assert!(parse("!stalled:true").matches(&quiet));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let expr = parse("a:1|b:2&c:3");
        assert!(expr.matches(&json!({"a": "1", "b": "0", "c": "0"})));
        assert!(expr.matches(&json!({"a": "0", "b": "2", "c": "3"})));
        assert!(!expr.matches(&json!({"a": "0", "b": "2", "c": "0"})));
        assert_eq!(expr, parse("a:1 | (b:2 & c:3)"));
        assert_ne!(expr, parse("(a:1 | b:2) & c:3"));
        assert!(!parse("(a:1|b:2)&c:3").matches(&json!({"a": "1", "c": "0"})));
    }

    #[test]
    fn not_binds_tightest() {
        let expr = parse("!a:1&b:2");
        assert!(expr.matches(&json!({"a": "0", "b": "2"})));
        assert!(!expr.matches(&json!({"a": "1", "b": "2"})));
        assert!(!expr.matches(&json!({"a": "0", "b": "0"})));
        let grouped = parse("!(a:1&b:2)");
        assert!(grouped.matches(&json!({"a": "1", "b": "0"})));
        assert!(!grouped.matches(&json!({"a": "1", "b": "2"})));
    }

    #[test]
    fn missing_fields_never_match_so_negation_holds() {
        let empty = json!({});
        assert!(!parse("x:1").matches(&empty));
        assert!(!parse("x~.*").matches(&empty));
        assert!(parse("!x:1").matches(&empty));
        assert!(parse("!x~.*").matches(&empty));
        assert!(!parse("x:null").matches(&json!({"x": null})));
        assert!(!parse("x~.").matches(&json!({"x": {"y": 1}})));
        assert!(!parse("x.y.z:1").matches(&json!({"x": {"y": 1}})));
        assert!(!parse("x:1").matches(&json!("not an object")));
    }

    #[test]
    fn scalars_compare_by_their_json_text() {
        let n = json!({"n": 5, "f": 1.5, "b": false, "s": "5"});
        assert!(parse("n:5").matches(&n));
        assert!(parse("f:1.5").matches(&n));
        assert!(parse("b:false").matches(&n));
        assert!(parse("s:5").matches(&n));
        assert!(parse("n~^5$").matches(&n));
        assert!(!parse("n:5.0").matches(&n));
    }

    #[test]
    fn arrays_match_if_any_element_does() {
        let n = json!({"tags": ["a", "b", ["c"]], "nums": [1, 2],
                       "objs": [{"k": "x"}, {"k": ["y", "z"]}]});
        assert!(parse("tags:b").matches(&n));
        assert!(parse("tags:c").matches(&n));
        assert!(!parse("tags:d").matches(&n));
        assert!(parse("nums:2").matches(&n));
        assert!(parse("objs.k:z").matches(&n));
        assert!(parse("objs.0.k:x").matches(&n));
        assert!(!parse("objs.0.k:y").matches(&n));
        assert!(!parse("objs.9.k:x").matches(&n));
        assert!(!parse("!tags:a").matches(&n));
    }

    #[test]
    fn star_empty_and_blank_match_everything() {
        for src in ["*", "", "   ", " * "] {
            let expr = parse(src);
            assert!(expr.matches(&json!({})), "{src:?}");
            assert!(expr.matches(&json!(null)), "{src:?}");
            assert_eq!(expr.to_string(), "*");
        }
        assert_eq!("*".parse::<Expr>(), Ok(parse("")));
    }

    #[test]
    fn quoted_values_hold_operators_spaces_and_escapes() {
        let n = json!({"t": "a:b|c~d&e!f(g)h", "q": "say \"hi\" \\ ok", "sp": " x "});
        assert!(parse("t:\"a:b|c~d&e!f(g)h\"").matches(&n));
        assert!(parse(r#"q:"say \"hi\" \\ ok""#).matches(&n));
        assert!(parse("sp:\" x \"").matches(&n));
        assert!(!parse("sp:x").matches(&n));
        // Backslashes other than \" and \\ stay, so a quoted regex needs no doubling.
        let digits = parse(r#"v~"^\d+|none$""#);
        assert!(digits.matches(&json!({"v": "42"})));
        assert!(digits.matches(&json!({"v": "none"})));
        assert!(!digits.matches(&json!({"v": "x"})));
        assert_eq!(parse(r#"v~"^\d+|none$""#), parse(r#"v~"^\\d+|none$""#));
    }

    #[test]
    fn bare_regex_keeps_groups_classes_and_escapes() {
        let n = json!({"s": "a|b", "t": "x&y", "u": "(z)"});
        assert!(parse(r"s~a\|b").matches(&n));
        assert!(parse(r"s~^(a|c)\|").matches(&n));
        assert!(parse("t~[&]").matches(&n));
        assert!(parse(r"u~\(z\)").matches(&n));
        assert!(parse(r"(u~[)(]z[]()] & s~b)").matches(&n));
        assert!(parse("s~[^]x]|t~nope").matches(&n));
        // A bare equality value still stops at `|`.
        let or = parse("s:a|t~y");
        assert_eq!(or.to_string(), "s:a | t~y");
        assert!(or.matches(&n));
    }

    #[test]
    fn canonical_form() {
        let cases = [
            (
                "type:PipelineNotification&name~.*prod.*",
                "kind:pipeline & pipeline~.*prod.*",
            ),
            (
                "!type:ManualApprovalNotification",
                "!(kind:pipeline & status:WAITING_FOR_APPROVAL)",
            ),
            ("a:1|(b:2|c:3)", "a:1 | b:2 | c:3"),
            ("((a:1&b:2))&c:3", "a:1 & b:2 & c:3"),
            ("(a:1|b:2)&c:3", "(a:1 | b:2) & c:3"),
            ("a:1|b:2&c:3", "a:1 | b:2 & c:3"),
            ("!(!a:1)", "!!a:1"),
            ("pipeline~\"prod|staging\"", "pipeline~\"prod|staging\""),
            (
                "alert.name~.*(Critical|High).*",
                "alarm_name~.*(Critical|High).*",
            ),
            ("title:\"a:b\"", "title:a:b"),
            ("title:\"x)\"", "title:\"x)\""),
            ("title:\" pad\"", "title:\" pad\""),
            ("title:\"\"", "title:\"\""),
            (r#"q:"say \"hi\"""#, r#"q:say "hi""#),
            (r#"q:"\"hi\"""#, r#"q:"\"hi\"""#),
            (r"s~a\|b", r"s~a\|b"),
            (r#"s~"a\b ""#, r#"s~"a\\b ""#),
            ("type~Alarm", "kind:alarm"),
            ("type~^ecs", "kind~^ecs"),
            (
                "successfull~.",
                "kind:pipeline & status:SUCCEEDED | kind:pipeline & status:FAILED",
            ),
            ("alert.type~^(alarm|nag)$", "kind:alarm & status:ALARM"),
            (
                "type:SimpleNotification|x:1",
                "!kind:pipeline & !kind:alarm | x:1",
            ),
        ];
        for (src, canonical) in cases {
            let expr = parse(src);
            assert_eq!(expr.to_string(), canonical, "{src:?}");
            assert_eq!(parse(canonical), expr, "{canonical:?}");
        }
    }

    #[test]
    fn meerkat_renames_point_at_herald_names() {
        for (meerkat, herald) in MEERKAT_RENAMES {
            let expr = parse(&format!("{meerkat}:v"));
            assert_eq!(expr.to_string(), format!("{herald}:v"));
            // Otherwise Display would print a name that re-parses to something else.
            assert!(MEERKAT_RENAMES.iter().all(|(m, _)| m != herald), "{herald}");
            assert!(
                MEERKAT_UNMAPPED.iter().all(|(m, _)| m != herald),
                "{herald}"
            );
            assert!(!["type", "successfull", "successful", "alert.type"].contains(herald));
        }
    }

    #[test]
    fn meerkat_fields_without_herald_counterpart_are_rejected() {
        for (meerkat, _) in MEERKAT_UNMAPPED {
            let err = parse_err(&format!("type:PipelineNotification & {meerkat}~x"));
            assert!(
                matches!(err.kind(), ErrorKind::MeerkatUnmapped { field, .. } if field == meerkat),
                "{err}"
            );
        }
        let err = parse_err("successfull:maybe");
        assert_eq!(err.position(), 12);
        assert!(
            matches!(err.kind(), ErrorKind::MeerkatValue { .. }),
            "{err}"
        );
        assert!(matches!(
            parse_err("alert.type~^x").kind(),
            ErrorKind::MeerkatValue { .. }
        ));
    }

    #[test]
    fn errors_carry_position_and_expectation() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "status",
                6,
                "at 6: expected ':' or '~' after field name \"status\", found end of input",
            ),
            (
                "kind:pipeline&status=FAILED",
                20,
                "at 20: expected ':' or '~' after field name \"status\", found '='",
            ),
            (
                "(a:1",
                4,
                "at 4: expected '&', '|' or ')' to close the '(' at 0, found end of input",
            ),
            (
                "(a:\"1\" b",
                7,
                "at 7: expected '&', '|' or ')' to close the '(' at 0, found 'b'",
            ),
            ("a:1)", 3, "at 3: ')' has no matching '('"),
            (
                "a:\"x\" b",
                6,
                "at 6: expected '&', '|' or end of input, found 'b'",
            ),
            (
                "a:",
                2,
                "at 2: empty value for field \"a\" (write \"\" to match an empty string)",
            ),
            ("a: & b:1", 3, ""),
            ("a:1 & b~ )", 9, ""),
            ("a:\"abc", 2, "at 2: quoted value has no closing '\"'"),
            ("a:\"abc\\", 2, ""),
            (
                "&a:1",
                0,
                "at 0: expected a field name, '!' or '(', found '&'",
            ),
            ("a:1 & * ", 6, ""),
            (
                "a:1 |",
                5,
                "at 5: expected a field name, '!' or '(', found end of input",
            ),
            ("()", 1, ""),
            (
                "a..b:1",
                2,
                "at 2: expected a field name after '.', found '.'",
            ),
            ("a.:1", 2, ""),
            ("név:1", 1, ""),
            ("commit.authorEmail:x", 19, ""),
        ];
        for &(src, pos, message) in cases {
            let err = parse_err(src);
            assert_eq!(err.position(), pos, "{src:?}: {err}");
            if !message.is_empty() {
                assert_eq!(err.to_string(), message, "{src:?}");
            }
        }
    }

    #[test]
    fn invalid_regex_reports_the_regex_error() {
        let err = parse_err("kind:pipeline & pipeline~a(b");
        assert_eq!(err.position(), 25);
        let text = err.to_string();
        assert!(
            text.starts_with("at 25: invalid regex for field \"pipeline\": "),
            "{text}"
        );
        assert!(text.contains("unclosed group"), "{text}");
        // A group left open swallows what follows, and the regex crate then rejects it.
        assert!(matches!(
            parse_err("name~a(b&kind:alarm").kind(),
            ErrorKind::InvalidRegex { .. }
        ));
        assert!(matches!(
            parse_err("type~(").kind(),
            ErrorKind::InvalidRegex { .. }
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}a:1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(Expr::parse(&ok).is_ok());
        let deep = format!("{}a:1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(parse_err(&deep).kind(), &ErrorKind::TooDeep);
        let nots = format!("{}a:1", "!".repeat(10_000));
        assert_eq!(parse_err(&nots).kind(), &ErrorKind::TooDeep);
        // Long flat chains are not nesting.
        let chain = vec!["a:1"; 10_000].join("&");
        assert!(parse(&chain).matches(&json!({"a": 1})));
    }

    #[test]
    fn debug_shows_patterns_and_from_str_parses() {
        let expr: Expr = match "pipeline~^web-.*$".parse() {
            Ok(expr) => expr,
            Err(err) => panic!("{err}"),
        };
        let debug = format!("{expr:?}");
        assert!(debug.contains("/^web-.*$/"), "{debug}");
        let cloned = expr.clone();
        assert_eq!(cloned, expr);
        assert!(cloned.matches(&json!({"pipeline": "web-prod"})));
    }

    /// A reference tree for the property tests: rendered to source in two ways, and evaluated
    /// independently of the parser's tree.
    #[derive(Clone, Debug)]
    enum Gen {
        Atom(String),
        Not(Box<Gen>),
        And(Box<Gen>, Box<Gen>),
        Or(Box<Gen>, Box<Gen>),
    }

    impl Gen {
        fn full(&self) -> String {
            match self {
                Gen::Atom(atom) => atom.clone(),
                Gen::Not(inner) => format!("! ( {} )", inner.full()),
                Gen::And(l, r) => format!("( {} ) & ( {} )", l.full(), r.full()),
                Gen::Or(l, r) => format!("({})|({})", l.full(), r.full()),
            }
        }

        /// Parentheses only where precedence demands them.
        fn minimal(&self, ctx: Prec) -> String {
            let (text, own) = match self {
                Gen::Atom(atom) => return atom.clone(),
                Gen::Not(inner) => return format!("!{}", inner.minimal(Prec::Not)),
                Gen::And(l, r) => (
                    format!("{}&{}", l.minimal(Prec::And), r.minimal(Prec::And)),
                    Prec::And,
                ),
                Gen::Or(l, r) => (
                    format!("{}|{}", l.minimal(Prec::Or), r.minimal(Prec::Or)),
                    Prec::Or,
                ),
            };
            if ctx > own {
                format!("({text})")
            } else {
                text
            }
        }

        fn eval(&self, notification: &Value) -> bool {
            match self {
                Gen::Atom(atom) => parse(atom).matches(notification),
                Gen::Not(inner) => !inner.eval(notification),
                Gen::And(l, r) => l.eval(notification) && r.eval(notification),
                Gen::Or(l, r) => l.eval(notification) || r.eval(notification),
            }
        }
    }

    fn quote(value: &str) -> String {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }

    fn atom() -> impl Strategy<Value = String> {
        let field = prop::sample::select(vec![
            "kind",
            "status",
            "pipeline",
            "commit.message",
            "stages.name",
            "final",
            "tags",
            "absent",
            "type",
            "name",
        ]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "pipeline",
                "FAILED",
                "web-prod",
                "a:b|c",
                "Build",
                "true",
                "x(y)",
                "PipelineNotification",
            ])
            .prop_map(str::to_owned),
            "[a-z:|~&!() \"\\\\]{0,6}",
        ];
        (field, any::<bool>(), value).prop_map(|(field, regex, value)| {
            if regex {
                format!("{field}~{}", quote(&regex::escape(&value)))
            } else {
                format!("{field}:{}", quote(&value))
            }
        })
    }

    fn gen() -> impl Strategy<Value = Gen> {
        atom()
            .prop_map(Gen::Atom)
            .prop_recursive(5, 24, 2, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|g| Gen::Not(Box::new(g))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(l, r)| Gen::And(Box::new(l), Box::new(r))),
                    (inner.clone(), inner).prop_map(|(l, r)| Gen::Or(Box::new(l), Box::new(r))),
                ]
            })
    }

    fn prop_sample() -> Value {
        json!({
            "kind": "pipeline", "status": "FAILED", "pipeline": "web-prod", "final": true,
            "commit": {"message": "a:b|c"}, "tags": ["x(y)", "Build"],
            "stages": [{"name": "Build"}, {"name": "Deploy"}]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(src in any::<String>()) {
            if let Ok(expr) = Expr::parse(&src) {
                let _ = expr.matches(&prop_sample());
                prop_assert_eq!(Expr::parse(&expr.to_string()), Ok(expr));
            }
        }

        #[test]
        fn grammar_shaped_strings_never_panic_and_round_trip(
            src in r#"[a-z.:~!&|()"\\*\[\]^ ]{0,40}"#
        ) {
            if let Ok(expr) = Expr::parse(&src) {
                let _ = expr.matches(&prop_sample());
                let canonical = expr.to_string();
                prop_assert_eq!(Expr::parse(&canonical), Ok(expr), "canonical {:?}", canonical);
            }
        }

        #[test]
        fn generated_trees_parse_with_the_right_precedence(tree in gen()) {
            let sample = prop_sample();
            let full = parse(&tree.full());
            let minimal = parse(&tree.minimal(Prec::Or));
            prop_assert_eq!(&full, &minimal);
            prop_assert_eq!(full.matches(&sample), tree.eval(&sample));
            prop_assert_eq!(&parse(&full.to_string()), &full);
        }
    }
}
