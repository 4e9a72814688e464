//! Safe identifiers, literals and the small expression grammar that custom resources may use in
//! SQL and collector configs. Everything from a custom resource passes one of these checks and is
//! then quoted, so a resource can neither inject SQL nor OTTL nor collector `${...}` expansions.

use std::fmt;

/// A plain SQL identifier: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

/// An attribute key such as `k8s.pod.name` or `app.kubernetes.io/name`: letters, digits and
/// `_ . - / : @`, at most 256 characters.
pub fn is_attribute_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '@'))
}

/// A DNS-1123 label (namespace, container name).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: what the API server requires of a custom resource's name (at most 253
/// characters; dot-separated parts of lowercase alphanumerics and `-`, each starting and ending
/// alphanumeric; apimachinery's IsDNS1123Subdomain, which bounds only the whole). `render`
/// reads files no API server saw, so it checks.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A Kubernetes label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.split('.').all(|l| {
                is_dns_label(l) || l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
    {
        return false;
    }
    !name.is_empty() && name.len() <= 63 && is_label_value(name)
}

/// A Kubernetes label value: empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and
/// ending alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Quote an identifier for ClickHouse SQL with backticks.
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('`');
    for c in s.chars() {
        match c {
            '`' => out.push_str("\\`"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

/// Quote a string literal for ClickHouse SQL.
pub fn quote_sql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Quote a string literal for OTTL (double quotes, backslash escapes).
pub fn quote_ottl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Make a value from a custom resource safe inside a collector config: the collector expands
/// `${...}` in every string, so a literal `$` is written `$$`.
pub fn escape_collector_value(s: &str) -> String {
    s.replace('$', "$$")
}

/// Functions a key or partition expression may wrap a column in: those over dates and times
/// first ([`TIME_FUNCTIONS`]).
pub const KEY_FUNCTIONS: &[&str] = &[
    "toStartOfMinute",
    "toStartOfFiveMinutes",
    "toStartOfFifteenMinutes",
    "toStartOfHour",
    "toStartOfDay",
    "toDate",
    "toYYYYMM",
    "toYYYYMMDD",
    "cityHash64",
    "lower",
];

/// The functions of [`KEY_FUNCTIONS`] over dates and times (ClickHouse: "Should be Date, Date32,
/// DateTime or DateTime64"; `toDate` of a String column parses each row and refuses the batch on
/// the first that is not a date).
pub const TIME_FUNCTIONS: &[&str] = KEY_FUNCTIONS.split_at(8).0;

/// Functions a skip-index expression may wrap a column in.
pub const INDEX_FUNCTIONS: &[&str] = &["mapKeys", "mapValues", "lower"];

/// `column` or `function(column)`: the whole expression grammar a custom resource gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnExpr {
    pub function: Option<&'static str>,
    pub column: String,
}

impl ColumnExpr {
    /// Parse `column` or `fn(column)`, `fn` from `allowed`.
    pub fn parse(s: &str, allowed: &[&'static str]) -> Result<Self, String> {
        let s = s.trim();
        if let Some(open) = s.find('(') {
            let name = s[..open].trim();
            let Some(inner) = s[open + 1..].strip_suffix(')') else {
                return Err(format!("`{s}`: expected `function(column)`"));
            };
            let Some(function) = allowed.iter().copied().find(|f| *f == name) else {
                return Err(format!(
                    "`{s}`: function `{name}` is not allowed here (allowed: {})",
                    allowed.join(", ")
                ));
            };
            let column = inner.trim();
            if !is_identifier(column) {
                return Err(format!("`{s}`: `{column}` is not a plain column name"));
            }
            Ok(Self {
                function: Some(function),
                column: column.to_string(),
            })
        } else if is_identifier(s) {
            Ok(Self {
                function: None,
                column: s.to_string(),
            })
        } else {
            Err(format!(
                "`{s}` is neither a column name nor `function(column)`"
            ))
        }
    }

    /// The SQL text, with the column quoted.
    pub fn to_sql(&self) -> String {
        match self.function {
            Some(f) => format!("{f}({})", quote_ident(&self.column)),
            None => quote_ident(&self.column),
        }
    }
}

impl fmt::Display for ColumnExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.function {
            Some(func) => write!(f, "{func}({})", self.column),
            None => write!(f, "{}", self.column),
        }
    }
}

/// Why a regex that Rust's `regex` accepts would be refused, or read differently, by the
/// collector, which compiles OTTL's regexes with Go's regexp (RE2 syntax, regexp/syntax):
/// capture names of letters, digits and `_` only (`(?P<a.b>)` is refused); flags `i`, `m`,
/// `s`, `U` only (`x`, `u`, `R` are Rust's); repetition counts up to 1000 (`{1001}` is
/// refused); no class set operations or nested classes (`[a-z&&[^aeiou]]` is an intersection
/// in Rust and a literal `&&[` in Go); no `\b{start}`-style or `\<`/`\>` boundaries. None when
/// Rust refuses it too (that error is reported on its own) or nothing here applies.
pub fn re2_incompatibility(re: &str) -> Option<String> {
    use regex_syntax::ast::{
        self, Assertion, AssertionKind, Ast, ClassSetBinaryOp, ClassSetItem, Flag, Flags,
        FlagsItemKind, GroupKind, RepetitionKind, RepetitionRange, Visitor,
    };
    struct Check(Option<String>);
    impl Check {
        fn note(&mut self, why: Option<String>) {
            if self.0.is_none() {
                self.0 = why;
            }
        }
    }
    fn flags(f: &Flags) -> Option<String> {
        f.items.iter().find_map(|i| match i.kind {
            FlagsItemKind::Flag(Flag::IgnoreWhitespace | Flag::Unicode | Flag::CRLF) => Some(
                "flags other than i, m, s and U are not RE2's (the collector's regexes)"
                    .to_string(),
            ),
            _ => None,
        })
    }
    impl Visitor for Check {
        type Output = Option<String>;
        type Err = ();
        fn finish(self) -> Result<Option<String>, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, a: &Ast) -> Result<(), ()> {
            let why = match a {
                Ast::Flags(f) => flags(&f.flags),
                Ast::Group(g) => match &g.kind {
                    GroupKind::CaptureName { name, .. }
                        if !name
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        Some(format!(
                            "group name {:?}: RE2 (the collector's regexes) allows letters, digits and _ only",
                            name.name
                        ))
                    }
                    GroupKind::NonCapturing(f) => flags(f),
                    _ => None,
                },
                Ast::Repetition(r) => match &r.op.kind {
                    RepetitionKind::Range(
                        RepetitionRange::Exactly(n)
                        | RepetitionRange::AtLeast(n)
                        | RepetitionRange::Bounded(_, n),
                    ) if *n > 1000 => Some(format!(
                        "a repetition of {n}: RE2 (the collector's regexes) allows at most 1000"
                    )),
                    _ => None,
                },
                Ast::Assertion(b) if matches!(
                    **b,
                    Assertion {
                        kind: AssertionKind::WordBoundaryStart
                            | AssertionKind::WordBoundaryEnd
                            | AssertionKind::WordBoundaryStartAngle
                            | AssertionKind::WordBoundaryEndAngle
                            | AssertionKind::WordBoundaryStartHalf
                            | AssertionKind::WordBoundaryEndHalf,
                        ..
                    }
                ) =>
                {
                    Some("word-boundary forms other than \\b and \\B are not RE2's (the collector's regexes)".to_string())
                }
                _ => None,
            };
            self.note(why);
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
            if matches!(item, ClassSetItem::Bracketed(_)) {
                self.note(Some(
                    "a class inside a class: RE2 (the collector's regexes) reads `[` there as a literal"
                        .to_string(),
                ));
            }
            Ok(())
        }
        fn visit_class_set_binary_op_pre(&mut self, _: &ClassSetBinaryOp) -> Result<(), ()> {
            self.note(Some(
                "class set operations (&&, --, ~~) are not RE2's (the collector's regexes): there they are literal characters"
                    .to_string(),
            ));
            Ok(())
        }
    }
    let parsed = ast::parse::Parser::new().parse(re).ok()?;
    ast::visit(&parsed, Check(None)).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("PodName"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("a`; DROP TABLE x; --"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn quoting_neutralises_quotes() {
        assert_eq!(quote_sql_string("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(quote_ident("a`b"), "`a\\`b`");
        assert_eq!(quote_ottl_string("a\"b"), "\"a\\\"b\"");
        assert_eq!(escape_collector_value("${env:X}"), "$${env:X}");
    }

    #[test]
    fn expressions() {
        let e = ColumnExpr::parse("toStartOfHour(Timestamp)", KEY_FUNCTIONS).unwrap();
        assert_eq!(e.to_sql(), "toStartOfHour(`Timestamp`)");
        assert!(ColumnExpr::parse("sleep(3)", KEY_FUNCTIONS).is_err());
        assert!(ColumnExpr::parse("toDate(Timestamp) OR 1", KEY_FUNCTIONS).is_err());
        assert!(ColumnExpr::parse("lower(x))", KEY_FUNCTIONS).is_err());
        assert!(ColumnExpr::parse("a, b", KEY_FUNCTIONS).is_err());
    }

    #[test]
    fn the_time_functions_are_the_key_functions_over_time() {
        let (time, rest) = KEY_FUNCTIONS.split_at(TIME_FUNCTIONS.len());
        assert_eq!(time, TIME_FUNCTIONS);
        assert!(time.iter().all(|f| f.starts_with("to")), "{time:?}");
        assert_eq!(rest, ["cityHash64", "lower"]);
    }

    #[test]
    fn label_keys() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("app"));
        assert!(!is_label_key("/x"));
        assert!(!is_label_key("a b"));
        assert!(is_label_value(""));
        assert!(!is_label_value("-x"));
    }

    #[test]
    fn regexes_rust_accepts_and_re2_refuses_or_reads_differently() {
        for re in [
            r"(?P<a.b>x)",
            r"(?x) a b (?P<n>c)",
            r"(?P<n>a{1001})",
            r"(?P<n>a{2,1001})",
            r"(?P<n>[a-z&&[^aeiou]])",
            r"(?P<n>[a[b]])",
            r"(?P<n>[a-z--c])",
            r"(?u:(?P<n>x))",
            r"(?R)(?P<n>x)",
            r"\b{start}(?P<n>x)",
        ] {
            assert!(regex::Regex::new(re).is_ok(), "Rust accepts {re}");
            assert!(re2_incompatibility(re).is_some(), "{re}");
        }
        for re in [
            r"(?P<level>\w+) (?P<msg>.*)",
            r"(?i)(?P<n>[a-z0-9_]{1,1000})",
            r"(?s:(?P<n>.+))\b",
            r"(?P<n>[[:alpha:]]+)",
        ] {
            assert_eq!(re2_incompatibility(re), None, "{re}");
        }
    }
}
