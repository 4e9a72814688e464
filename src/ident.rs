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

/// Functions a key or partition expression may wrap a column in.
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
    fn label_keys() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("app"));
        assert!(!is_label_key("/x"));
        assert!(!is_label_key("a b"));
        assert!(is_label_value(""));
        assert!(!is_label_value("-x"));
    }
}
