//! The OpenTelemetry collector's small languages, as the collector-contrib v0.150 components
//! read them, written from their sources and not from our builders (tests/tenancy.rs walks the
//! generated configs with them):
//!
//! - [`expand`]: confmap's expansion of config values (`$$` is a literal `$`, `${...}` a
//!   reference): go.opentelemetry.io/collector/confmap (expand.go; the `$$` escape).
//! - [`Glob`]: the filelog receiver's `include`/`exclude` file globs, matched by
//!   github.com/bmatcuk/doublestar/v4 (pkg/stanza/fileconsumer/matcher/internal/finder/finder.go:
//!   `doublestar.FilepathGlob` for includes, `doublestar.PathMatch` for excludes).
//! - [`Condition`]: OTTL boolean conditions, the subset routing connectors and filter processors
//!   are given here (pkg/ottl/grammar.go with its lexer, compare.go,
//!   ottlfuncs/func_is_match.go).
//!
//! Everything outside that subset panics: a builder change to syntax this does not model fails
//! the tests loudly instead of being evaluated wrongly.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// A config value after confmap expansion. `$$` is the escape of a literal `$`; a `${...}`
/// reference (env, file, ...) or a bare `$` has no place in the values these tests read
/// (globs, conditions): panics.
pub fn expand(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('$') => out.push('$'),
            Some('{') => panic!("a ${{...}} reference would be expanded in {value:?}"),
            other => panic!("a bare `$` (followed by {other:?}) in {value:?}"),
        }
    }
    out
}

/// A doublestar glob: `*` and `?` stay within a path segment, `**` as a whole segment crosses
/// any number of directories (zero included), `[...]` is a class (`[!...]`/`[^...]` negated,
/// never matching `/`), `{a,b}` alternatives (nestable), `\` escapes the next character.
pub struct Glob {
    pub pattern: String,
    re: Regex,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut re = String::from("^");
        let mut depth = 0usize;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    let whole_segment = i == 0 || chars[i - 1] == '/';
                    match chars.get(i + 2) {
                        Some('/') if whole_segment => {
                            re.push_str("(?:[^/]*/)*");
                            i += 3;
                        }
                        None if whole_segment => {
                            re.push_str(".*");
                            i += 2;
                        }
                        _ => panic!("`**` inside a path segment is not modelled: {pattern}"),
                    }
                    continue;
                }
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                '[' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&x| x == ']')
                        .unwrap_or_else(|| panic!("unclosed class in {pattern}"))
                        + i;
                    let mut body: &[char] = &chars[i + 1..end];
                    let negated = matches!(body.first(), Some('!' | '^'));
                    if negated {
                        body = &body[1..];
                    }
                    assert!(
                        !body.is_empty()
                            && body.iter().all(|x| x.is_ascii_alphanumeric() || *x == '-'),
                        "class [{}] not modelled in {pattern}",
                        body.iter().collect::<String>()
                    );
                    re.push_str(if negated { "[^/" } else { "[" });
                    re.extend(body.iter());
                    re.push(']');
                    i = end;
                }
                '{' => {
                    depth += 1;
                    re.push_str("(?:");
                }
                ',' if depth > 0 => re.push('|'),
                '}' if depth > 0 => {
                    depth -= 1;
                    re.push(')');
                }
                '\\' => {
                    i += 1;
                    let next = chars
                        .get(i)
                        .unwrap_or_else(|| panic!("trailing `\\` in {pattern}"));
                    re.push_str(&regex::escape(&next.to_string()));
                }
                c => re.push_str(&regex::escape(&c.to_string())),
            }
            i += 1;
        }
        assert_eq!(depth, 0, "unclosed `{{` in {pattern}");
        re.push('$');
        Self {
            pattern: pattern.to_string(),
            re: Regex::new(&re).expect("glob regex"),
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        self.re.is_match(path)
    }
}

/// The telemetry a condition sees: one log record and its resource (attribute values are all
/// strings here: what the filelog receiver and k8sattributes set).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
}

/// The context a condition is parsed in: routing connector routes say `context: resource` or
/// `context: log`; the filter processor's `logs.log_record` conditions are in the log context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ctx {
    Resource,
    Log,
}

/// Which attribute map a path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Map {
    Resource,
    Record,
}

#[derive(Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Operand, bool, Operand),
    Bool(Operand),
}

#[derive(Debug)]
enum Operand {
    Nil,
    Str(String),
    Bool(bool),
    Path(Map, String),
    IsMatch(Box<Operand>, Regex),
}

#[derive(Debug, PartialEq)]
enum Value {
    Nil,
    Str(String),
    Bool(bool),
}

/// A parsed OTTL condition.
#[derive(Debug)]
pub struct Condition {
    pub source: String,
    expr: Expr,
    /// Every attribute the condition reads.
    pub reads: BTreeSet<(Map, String)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Str(String),
    Ident(String),
}

/// grammar.go's lexer (`buildLexer`), the tokens of the subset: punctuation, `==`/`!=` (other comparison
/// operators panic), double-quoted strings (only `\"` and `\\` escapes are modelled), idents.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::LParen),
            ')' => out.push(Token::RParen),
            '[' => out.push(Token::LBracket),
            ']' => out.push(Token::RBracket),
            ',' => out.push(Token::Comma),
            '.' => out.push(Token::Dot),
            '=' | '!' if chars.get(i) == Some(&'=') => {
                i += 1;
                out.push(if c == '=' { Token::Eq } else { Token::Ne });
            }
            '"' => {
                let mut s = String::new();
                loop {
                    let c = *chars
                        .get(i)
                        .unwrap_or_else(|| panic!("unterminated string in {src}"));
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied();
                            i += 1;
                            match e {
                                Some('"') => s.push('"'),
                                Some('\\') => s.push('\\'),
                                other => panic!("escape \\{other:?} not modelled in {src}"),
                            }
                        }
                        c => s.push(c),
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i - 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => panic!("token {other:?} not modelled in {src}"),
        }
    }
    out
}

/// A recursive-descent parser of pkg/ottl/grammar.go's boolean expressions:
///
/// ```text
/// booleanExpression = term ("or" term)*
/// term              = booleanValue ("and" booleanValue)*
/// booleanValue      = "not"? (comparison | constExpr | "(" booleanExpression ")")
/// comparison        = value ("==" | "!=") value
/// constExpr         = "true" | "false" | converter
/// value             = nil | string | bool | path | converter
/// ```
///
/// So `not` binds tighter than `and`, and `and` tighter than `or`.
struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    ctx: Ctx,
    reads: BTreeSet<(Map, String)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Token {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .unwrap_or_else(|| panic!("unexpected end of {}", self.src));
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Token) {
        let got = self.next();
        assert_eq!(got, t, "in {}", self.src);
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(i)) if i == k)
    }

    fn or(&mut self) -> Expr {
        let mut terms = vec![self.and()];
        while self.keyword("or") {
            self.pos += 1;
            terms.push(self.and());
        }
        if terms.len() == 1 {
            terms.pop().unwrap()
        } else {
            Expr::Or(terms)
        }
    }

    fn and(&mut self) -> Expr {
        let mut values = vec![self.boolean_value()];
        while self.keyword("and") {
            self.pos += 1;
            values.push(self.boolean_value());
        }
        if values.len() == 1 {
            values.pop().unwrap()
        } else {
            Expr::And(values)
        }
    }

    fn boolean_value(&mut self) -> Expr {
        let negated = self.keyword("not");
        if negated {
            self.pos += 1;
        }
        let inner = if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let e = self.or();
            self.expect(Token::RParen);
            e
        } else {
            let left = self.operand();
            match self.peek() {
                Some(Token::Eq | Token::Ne) => {
                    let eq = self.next() == Token::Eq;
                    let right = self.operand();
                    Expr::Compare(left, eq, right)
                }
                // constExpr: a boolean literal or a converter, never a bare path.
                _ => match left {
                    Operand::Bool(_) | Operand::IsMatch(..) => Expr::Bool(left),
                    other => panic!("{other:?} is not a boolean value in {}", self.src),
                },
            }
        };
        if negated {
            Expr::Not(Box::new(inner))
        } else {
            inner
        }
    }

    fn operand(&mut self) -> Operand {
        match self.next() {
            Token::Str(s) => Operand::Str(s),
            Token::Ident(i) => match i.as_str() {
                "nil" => Operand::Nil,
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "IsMatch" => {
                    self.expect(Token::LParen);
                    let target = self.operand();
                    self.expect(Token::Comma);
                    let Token::Str(pattern) = self.next() else {
                        panic!("IsMatch's pattern must be a string literal in {}", self.src)
                    };
                    self.expect(Token::RParen);
                    // func_is_match.go compiles the pattern with Go's regexp (RE2) at parse time.
                    let re = Regex::new(&pattern)
                        .unwrap_or_else(|e| panic!("{pattern:?} does not compile: {e}"));
                    Operand::IsMatch(Box::new(target), re)
                }
                _ => self.path(i),
            },
            other => panic!("{other:?} is not a value in {}", self.src),
        }
    }

    /// `attributes["k"]`, `resource.attributes["k"]`, `log.attributes["k"]` (the context's own
    /// map, or the log context's resource).
    fn path(&mut self, first: String) -> Operand {
        let mut segments = vec![first];
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            match self.next() {
                Token::Ident(i) => segments.push(i),
                other => panic!("{other:?} in a path of {}", self.src),
            }
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let map = match (self.ctx, segments.as_slice()) {
            (Ctx::Resource, ["attributes"] | ["resource", "attributes"]) => Map::Resource,
            (Ctx::Log, ["resource", "attributes"]) => Map::Resource,
            (Ctx::Log, ["attributes"] | ["log", "attributes"]) => Map::Record,
            (ctx, p) => panic!(
                "path {p:?} not modelled in the {ctx:?} context: {}",
                self.src
            ),
        };
        self.expect(Token::LBracket);
        let Token::Str(key) = self.next() else {
            panic!("a map key must be a string literal in {}", self.src)
        };
        self.expect(Token::RBracket);
        assert_ne!(
            self.peek(),
            Some(&Token::LBracket),
            "nested keys not modelled"
        );
        self.reads.insert((map, key.clone()));
        Operand::Path(map, key)
    }
}

impl Condition {
    pub fn parse(src: &str, ctx: Ctx) -> Self {
        let mut p = Parser {
            src,
            tokens: lex(src),
            pos: 0,
            ctx,
            reads: BTreeSet::new(),
        };
        let expr = p.or();
        assert_eq!(p.pos, p.tokens.len(), "trailing tokens in {src}");
        Self {
            source: src.to_string(),
            expr,
            reads: p.reads,
        }
    }

    pub fn eval(&self, r: &Record) -> bool {
        eval(&self.expr, r)
    }
}

fn eval(e: &Expr, r: &Record) -> bool {
    match e {
        Expr::Or(terms) => terms.iter().any(|t| eval(t, r)),
        Expr::And(values) => values.iter().all(|v| eval(v, r)),
        Expr::Not(inner) => !eval(inner, r),
        // compare.go: nil equals only nil; values of different types are never equal (and so
        // always `!=`); strings and booleans compare by value.
        Expr::Compare(a, eq, b) => {
            let same = match (value(a, r), value(b, r)) {
                (Value::Nil, Value::Nil) => true,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Bool(x), Value::Bool(y)) => x == y,
                _ => false,
            };
            same == *eq
        }
        Expr::Bool(o) => match value(o, r) {
            Value::Bool(b) => b,
            other => panic!("{other:?} is not a boolean"),
        },
    }
}

fn value(o: &Operand, r: &Record) -> Value {
    match o {
        Operand::Nil => Value::Nil,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Path(map, key) => {
            let m = match map {
                Map::Resource => &r.resource,
                Map::Record => &r.attributes,
            };
            m.get(key).map_or(Value::Nil, |v| Value::Str(v.clone()))
        }
        // func_is_match.go: a nil target is never a match.
        Operand::IsMatch(target, re) => match value(target, r) {
            Value::Nil => Value::Bool(false),
            Value::Str(s) => Value::Bool(re.is_match(&s)),
            other => panic!("IsMatch on {other:?} not modelled"),
        },
    }
}
