//! The OpenTelemetry collector's small languages, as the collector-contrib v0.150 components
//! read them, written from their sources and not from our builders (tests/tenancy.rs walks the
//! generated configs with them, tests/clamp.rs runs the gateway's transform statements):
//!
//! - [`expand`]: confmap's expansion of config values (`$$` is a literal `$`, `${...}` a
//!   reference): go.opentelemetry.io/collector/confmap (expand.go; the `$$` escape).
//! - [`Glob`]: the filelog receiver's `include`/`exclude` file globs, matched by
//!   github.com/bmatcuk/doublestar/v4 (pkg/stanza/fileconsumer/matcher/internal/finder/finder.go:
//!   `doublestar.FilepathGlob` for includes, `doublestar.PathMatch` for excludes).
//! - [`Condition`]: OTTL boolean conditions, the subset routing connectors and filter processors
//!   are given here (pkg/ottl/grammar.go with its lexer, compare.go,
//!   ottlfuncs/func_is_match.go).
//! - [`Statement`]: transform processor statements, `set(target, value) where condition`, over
//!   one [`Log`] record (pkg/ottl/parser.go `Statement.Execute` and `StatementSequence.Execute`,
//!   ottlfuncs/func_set.go), with the log context's timestamp paths
//!   (pkg/ottl/contexts/internal/ctxlog/log.go), its attribute maps
//!   (contexts/internal/ctxutil/map.go, value.go), the converters `Now()` (ottlfuncs/func_now.go,
//!   here a clock the caller fixes) and `Duration("...")` (ottlfuncs/func_duration.go: Go's
//!   `time.ParseDuration`, src/time/format.go), `+`/`-` of a time and a duration (pkg/ottl/math.go)
//!   and the ordering comparisons of times (compare.go `compareTime`).
//!
//! Everything outside that subset panics: a builder change to syntax this does not model fails
//! the tests loudly instead of being evaluated wrongly. So does what would be an error at run
//! time in the collector (a wrong type for a setter, say): with `error_mode: ignore` the
//! collector would log it and skip the statement, which no test here expects.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// A config value after confmap expansion. `$$` is the escape of a literal `$`; a `${...}`
/// reference (env, file, ...) or a bare `$` has no place in the values these tests read
/// (globs, conditions, statements): panics.
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
/// strings here: what the filelog receiver and k8sattributes set). It has no timestamps: a
/// condition reading `time` and the like is evaluated on a [`Log`] ([`Condition::eval_log`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
}

/// A pcommon attribute value, of the types the subset reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Attr {
    fn from(s: &str) -> Self {
        Attr::Str(s.to_string())
    }
}

impl From<i64> for Attr {
    fn from(i: i64) -> Self {
        Attr::Int(i)
    }
}

/// One log record with its resource, as a transform statement sees it. The timestamps are
/// pdata's `Timestamp`: unsigned nanoseconds since the Unix epoch, 0 when unset. The resource
/// is this record's alone here; in the collector a statement writing `resource.attributes` in
/// the log context changes the resource every record of that ResourceLogs shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Log {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub attributes: BTreeMap<String, Attr>,
    pub resource: BTreeMap<String, Attr>,
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

/// Which timestamp of the record a path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stamp {
    Time,
    Observed,
}

/// How a timestamp path gives it (ctxlog/log.go): `time`/`observed_time` as a Go `time.Time`,
/// `time_unix_nano`/`observed_time_unix_nano` as an int64 of nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Time,
    UnixNano,
}

/// compare.go's operators (grammar.go `compareOpTable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// math.go's `+` and `-` (`*` and `/` are not modelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MathOp {
    Add,
    Sub,
}

#[derive(Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CmpOp, Operand),
    Bool(Operand),
}

#[derive(Debug)]
enum Operand {
    Nil,
    Str(String),
    Bool(bool),
    Path(Map, String),
    Stamp(Stamp, Form),
    IsMatch(Box<Operand>, Regex),
    /// `Now()`: the evaluator's fixed clock.
    Now,
    /// `Duration("...")`, parsed once (nanoseconds).
    Duration(i64),
    /// A time plus or minus a duration: always a time.
    Math(Box<Operand>, MathOp, Box<Operand>),
}

/// What an operand is known to give when parsed; a map value's type is only known per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Nil,
    Str,
    Bool,
    Int,
    Time,
    Duration,
    Dynamic,
}

fn ty(o: &Operand) -> Ty {
    match o {
        Operand::Nil => Ty::Nil,
        Operand::Str(_) => Ty::Str,
        Operand::Bool(_) | Operand::IsMatch(..) => Ty::Bool,
        Operand::Path(..) => Ty::Dynamic,
        Operand::Stamp(_, Form::Time) | Operand::Now | Operand::Math(..) => Ty::Time,
        Operand::Stamp(_, Form::UnixNano) => Ty::Int,
        Operand::Duration(_) => Ty::Duration,
    }
}

/// A value as a getter returns it. Times are nanoseconds since the epoch, wide enough that
/// `Now()` plus or minus any duration does not overflow (Go's `time.Time` does not either);
/// durations are Go's `time.Duration`, int64 nanoseconds. A pcommon map value comes out raw
/// (ctxutil/value.go `getIndexableValue` returns `ottlcommon.GetValue`): a string, int64 or bool.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Nil,
    Str(String),
    Bool(bool),
    Int(i64),
    Time(i128),
    Duration(i64),
}

/// A parsed OTTL condition.
#[derive(Debug)]
pub struct Condition {
    pub source: String,
    expr: Expr,
    /// Every attribute the condition reads.
    pub reads: BTreeSet<(Map, String)>,
}

/// A parsed transform statement: `set(target, value)`, optionally `where` a condition.
#[derive(Debug)]
pub struct Statement {
    pub source: String,
    target: Target,
    value: Operand,
    condition: Option<Expr>,
    /// Every attribute the value and the condition read.
    pub reads: BTreeSet<(Map, String)>,
    /// The attribute the statement writes, when its target is one.
    pub writes: BTreeSet<(Map, String)>,
}

#[derive(Debug)]
enum Target {
    Attr(Map, String),
    Stamp(Stamp, Form),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Cmp(CmpOp),
    Math(MathOp),
    Str(String),
    Ident(String),
}

/// grammar.go's lexer (`buildLexer`), the tokens of the subset: punctuation, the comparison
/// operators, `+`/`-` (`OpAddSub`; `*` and `/` panic), double-quoted strings (only `\"` and `\\`
/// escapes are modelled), idents (`Lowercase`/`Uppercase` runs: `[a-z][a-z0-9_]*`,
/// `[A-Z][A-Z0-9_]*`, which the grammar joins into function names). Numbers (`Int`, `Float`,
/// `Bytes`), maps, lists and `=` of named arguments panic.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let eq_next = chars.get(i) == Some(&'=');
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::LParen),
            ')' => out.push(Token::RParen),
            '[' => out.push(Token::LBracket),
            ']' => out.push(Token::RBracket),
            ',' => out.push(Token::Comma),
            '.' => out.push(Token::Dot),
            '=' | '!' if eq_next => {
                i += 1;
                out.push(Token::Cmp(if c == '=' { CmpOp::Eq } else { CmpOp::Ne }));
            }
            '<' | '>' => {
                let op = match (c, eq_next) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                if eq_next {
                    i += 1;
                }
                out.push(Token::Cmp(op));
            }
            // `[-+]?\d+` (Int) comes before OpAddSub in the lexer, but a digit panics below
            // anyway, so a sign never needs telling apart from an operator here.
            '+' => out.push(Token::Math(MathOp::Add)),
            '-' => out.push(Token::Math(MathOp::Sub)),
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
            c if c.is_ascii_alphabetic() => {
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

/// A recursive-descent parser of pkg/ottl/grammar.go's statements and boolean expressions:
///
/// ```text
/// statement         = editor ("where" booleanExpression)?
/// editor            = "set" "(" path "," value ")"
/// booleanExpression = term ("or" term)*
/// term              = booleanValue ("and" booleanValue)*
/// booleanValue      = "not"? (comparison | constExpr | "(" booleanExpression ")")
/// comparison        = value ("==" | "!=" | "<" | "<=" | ">" | ">=") value
/// constExpr         = "true" | "false" | converter
/// value             = nil | string | bool | path | converter | mathExpression
/// mathExpression    = literal (("+" | "-") literal)*   (a time, then durations)
/// converter         = IsMatch(value, string) | Now() | Duration(string)
/// ```
///
/// So `not` binds tighter than `and`, and `and` tighter than `or`. Types are checked when
/// parsing where the collector would fail at run time on every record, or where a rule is only
/// modelled for some types: math is a time plus or minus a duration (math.go
/// `performOpTime`), ordering compares times, int64s or durations (compare.go), never a map
/// value (whose `comparePValue` cross-type rules are not modelled).
struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    ctx: Ctx,
    reads: BTreeSet<(Map, String)>,
}

impl Parser<'_> {
    fn new(src: &str, ctx: Ctx) -> Parser<'_> {
        Parser {
            src,
            tokens: lex(src),
            pos: 0,
            ctx,
            reads: BTreeSet::new(),
        }
    }

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

    fn end(&self) {
        assert_eq!(
            self.pos,
            self.tokens.len(),
            "trailing tokens in {}",
            self.src
        );
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
            let left = self.value();
            match self.peek() {
                Some(Token::Cmp(op)) => {
                    let op = *op;
                    self.pos += 1;
                    let right = self.value();
                    if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                        for side in [&left, &right] {
                            assert!(
                                matches!(ty(side), Ty::Time | Ty::Int | Ty::Duration),
                                "ordering {op:?} of {side:?} not modelled (times, int64s and \
                                 durations only) in {}",
                                self.src
                            );
                        }
                    }
                    Expr::Compare(left, op, right)
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

    /// A value: a literal, or a math expression over literals (grammar.go `value`, whose
    /// `Literal` alternative only matches when no `OpAddSub`/`OpMultDiv` follows).
    fn value(&mut self) -> Operand {
        let mut acc = self.literal();
        while let Some(Token::Math(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.literal();
            // math.go `performOpTime`: time + duration and time - duration are times; the rest
            // (time - time, durations, numbers, anything on a map value) is not modelled.
            assert!(
                ty(&acc) == Ty::Time && ty(&right) == Ty::Duration,
                "math {acc:?} {op:?} {right:?} not modelled (a time plus or minus a duration \
                 only) in {}",
                self.src
            );
            acc = Operand::Math(Box::new(acc), op, Box::new(right));
        }
        acc
    }

    fn literal(&mut self) -> Operand {
        let o = match self.next() {
            Token::Str(s) => Operand::Str(s),
            Token::Ident(i) => match i.as_str() {
                "nil" => Operand::Nil,
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "IsMatch" => {
                    self.expect(Token::LParen);
                    let target = self.value();
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
                // func_now.go: `time.Now()`, no arguments.
                "Now" => {
                    self.expect(Token::LParen);
                    self.expect(Token::RParen);
                    Operand::Now
                }
                // func_duration.go: `time.ParseDuration` of its StringGetter, on every
                // evaluation; an error fails the statement on every record, so the kit parses
                // the literal once and panics on an error. A path argument is not modelled.
                "Duration" => {
                    self.expect(Token::LParen);
                    let Token::Str(d) = self.next() else {
                        panic!(
                            "Duration's argument must be a string literal in {}",
                            self.src
                        )
                    };
                    self.expect(Token::RParen);
                    let ns =
                        parse_go_duration(&d).unwrap_or_else(|e| panic!("{e} in {}", self.src));
                    Operand::Duration(ns)
                }
                f if f.starts_with(|c: char| c.is_ascii_uppercase()) => {
                    panic!("converter or enum {f} not modelled in {}", self.src)
                }
                _ => self.path(i),
            },
            other => panic!("{other:?} is not a value in {}", self.src),
        };
        if matches!(
            o,
            Operand::IsMatch(..) | Operand::Now | Operand::Duration(_)
        ) {
            assert_ne!(
                self.peek(),
                Some(&Token::LBracket),
                "keys on a converter not modelled in {}",
                self.src
            );
        }
        o
    }

    /// `attributes["k"]`, `resource.attributes["k"]`, `log.attributes["k"]` (the context's own
    /// map, or the log context's resource); in the log context also `time`, `observed_time`,
    /// `time_unix_nano`, `observed_time_unix_nano` (ctxlog/log.go `PathGetSetter`), with or
    /// without the `log.` prefix.
    fn path(&mut self, first: String) -> Operand {
        let mut segments = vec![first];
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            match self.next() {
                Token::Ident(i) => segments.push(i),
                other => panic!("{other:?} in a path of {}", self.src),
            }
        }
        // grammar.go: each path segment is one `Lowercase` token.
        for s in &segments {
            assert!(
                s.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "path segment {s:?} is not a Lowercase token in {}",
                self.src
            );
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let stamp = match (self.ctx, segments.as_slice()) {
            (Ctx::Log, ["time"] | ["log", "time"]) => Some((Stamp::Time, Form::Time)),
            (Ctx::Log, ["observed_time"] | ["log", "observed_time"]) => {
                Some((Stamp::Observed, Form::Time))
            }
            (Ctx::Log, ["time_unix_nano"] | ["log", "time_unix_nano"]) => {
                Some((Stamp::Time, Form::UnixNano))
            }
            (Ctx::Log, ["observed_time_unix_nano"] | ["log", "observed_time_unix_nano"]) => {
                Some((Stamp::Observed, Form::UnixNano))
            }
            _ => None,
        };
        if let Some((stamp, form)) = stamp {
            assert_ne!(
                self.peek(),
                Some(&Token::LBracket),
                "keys on {segments:?} in {}",
                self.src
            );
            return Operand::Stamp(stamp, form);
        }
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
        let mut p = Parser::new(src, ctx);
        let expr = p.or();
        p.end();
        Self {
            source: src.to_string(),
            expr,
            reads: p.reads,
        }
    }

    /// On a record without timestamps or a clock: a condition reading `time` or `Now()`
    /// panics here (use [`Condition::eval_log`]).
    pub fn eval(&self, r: &Record) -> bool {
        eval(&self.expr, &Env { src: r, now: None })
    }

    /// On a log record, `Now()` being `now_unix_nano`.
    pub fn eval_log(&self, log: &Log, now_unix_nano: i64) -> bool {
        eval(
            &self.expr,
            &Env {
                src: log,
                now: Some(now_unix_nano),
            },
        )
    }
}

impl Statement {
    /// A statement of `ctx` (the transform processor's `log_statements` with `context: log`
    /// are [`Ctx::Log`]). The text is OTTL: a value from a config is [`expand`]ed first.
    pub fn parse(src: &str, ctx: Ctx) -> Self {
        let mut p = Parser::new(src, ctx);
        // grammar.go `editor`: a Lowercase function name and its arguments; only `set` with its
        // two positional arguments (func_set.go `SetArguments`: Target, Value) is modelled.
        match p.next() {
            Token::Ident(f) if f == "set" => {}
            other => panic!("editor {other:?} not modelled in {src}"),
        }
        p.expect(Token::LParen);
        // The target is a GetSetter: set does not read it (with the `ottl.set.allowNil` gate
        // off), so what its path records as a read is dropped.
        let before = p.reads.clone();
        let target = match p.value() {
            Operand::Path(map, key) => Target::Attr(map, key),
            Operand::Stamp(stamp, form) => Target::Stamp(stamp, form),
            other => panic!("set's target {other:?} is not a path in {src}"),
        };
        p.reads = before;
        p.expect(Token::Comma);
        let value = p.value();
        p.expect(Token::RParen);
        // The setters' `ctxutil.ExpectType` (ctxlog/log.go) fails on every record when the type
        // is known to be wrong; `ctxutil.SetValue` (value.go) leaves an empty value for a time or
        // a duration, which is not modelled either.
        let fits = match (&target, ty(&value)) {
            (_, Ty::Nil | Ty::Dynamic) => true,
            (Target::Stamp(_, Form::Time), t) => t == Ty::Time,
            (Target::Stamp(_, Form::UnixNano), t) => t == Ty::Int,
            (Target::Attr(..), t) => matches!(t, Ty::Str | Ty::Int | Ty::Bool),
        };
        assert!(fits, "set({target:?}, {value:?}) not modelled in {src}");
        let condition = p.keyword("where").then(|| {
            p.pos += 1;
            p.or()
        });
        p.end();
        let writes = match &target {
            Target::Attr(map, key) => BTreeSet::from([(*map, key.clone())]),
            Target::Stamp(..) => BTreeSet::new(),
        };
        Self {
            source: src.to_string(),
            target,
            value,
            condition,
            reads: p.reads,
            writes,
        }
    }

    /// parser.go `Statement.Execute`: the condition is evaluated (none is true), and only when
    /// it holds the editor runs; returns whether it held. `Now()` is `now_unix_nano`.
    pub fn execute(&self, log: &mut Log, now_unix_nano: i64) -> bool {
        let env = Env {
            src: &*log,
            now: Some(now_unix_nano),
        };
        if !self.condition.as_ref().is_none_or(|c| eval(c, &env)) {
            return false;
        }
        let v = value(&self.value, &env);
        // func_set.go: a nil value sets nothing (the `ottl.set.allowNil` feature gate, alpha and
        // off by default, would set the target's zero value instead).
        if v == Value::Nil {
            return true;
        }
        match &self.target {
            // ctxlog/log.go `accessTime`/`accessObservedTime`: `ExpectType[time.Time]`, then
            // `pcommon.NewTimestampFromTime` (`uint64(t.UnixNano())`, undefined outside the
            // int64 range: panics here).
            Target::Stamp(stamp, Form::Time) => {
                let Value::Time(t) = v else {
                    panic!("{v:?} is not a time.Time for {stamp:?}: {}", self.source)
                };
                let ns = i64::try_from(t)
                    .unwrap_or_else(|_| panic!("{t} ns is out of UnixNano's range"));
                *log.stamp_mut(*stamp) = ns as u64;
            }
            // `accessTimeUnixNano`: `ExpectType[int64]`, then `time.Unix(0, i)`.
            Target::Stamp(stamp, Form::UnixNano) => {
                let Value::Int(i) = v else {
                    panic!("{v:?} is not an int64 for {stamp:?}: {}", self.source)
                };
                *log.stamp_mut(*stamp) = i as u64;
            }
            // ctxutil/map.go `SetMapValue`: the key is created if missing, then value.go
            // `SetValue` stores a string, int64 or bool.
            Target::Attr(map, key) => {
                let a = match v {
                    Value::Str(s) => Attr::Str(s),
                    Value::Int(i) => Attr::Int(i),
                    Value::Bool(b) => Attr::Bool(b),
                    other => panic!("{other:?} into {key:?} not modelled: {}", self.source),
                };
                let m = match map {
                    Map::Resource => &mut log.resource,
                    Map::Record => &mut log.attributes,
                };
                m.insert(key.clone(), a);
            }
        }
        true
    }
}

/// parser.go `StatementSequence.Execute`, as the transform processor runs a context's
/// statements on each record: every statement in order, each seeing what the previous ones
/// wrote.
pub fn execute_all(statements: &[Statement], log: &mut Log, now_unix_nano: i64) {
    for s in statements {
        s.execute(log, now_unix_nano);
    }
}

impl Log {
    fn stamp_mut(&mut self, s: Stamp) -> &mut u64 {
        match s {
            Stamp::Time => &mut self.time_unix_nano,
            Stamp::Observed => &mut self.observed_time_unix_nano,
        }
    }
}

/// What a getter reads from.
trait Source {
    /// A map value, nil when the key is missing (ctxutil/map.go `GetMapValue`).
    fn attr(&self, map: Map, key: &str) -> Value;
    fn stamp(&self, s: Stamp) -> u64;
}

impl Source for Record {
    fn attr(&self, map: Map, key: &str) -> Value {
        let m = match map {
            Map::Resource => &self.resource,
            Map::Record => &self.attributes,
        };
        m.get(key).map_or(Value::Nil, |v| Value::Str(v.clone()))
    }

    fn stamp(&self, s: Stamp) -> u64 {
        panic!("a Record has no {s:?} timestamp: evaluate on a Log")
    }
}

impl Source for Log {
    fn attr(&self, map: Map, key: &str) -> Value {
        let m = match map {
            Map::Resource => &self.resource,
            Map::Record => &self.attributes,
        };
        match m.get(key) {
            None => Value::Nil,
            Some(Attr::Str(s)) => Value::Str(s.clone()),
            Some(Attr::Int(i)) => Value::Int(*i),
            Some(Attr::Bool(b)) => Value::Bool(*b),
        }
    }

    fn stamp(&self, s: Stamp) -> u64 {
        match s {
            Stamp::Time => self.time_unix_nano,
            Stamp::Observed => self.observed_time_unix_nano,
        }
    }
}

struct Env<'a> {
    src: &'a dyn Source,
    now: Option<i64>,
}

fn eval(e: &Expr, env: &Env) -> bool {
    match e {
        Expr::Or(terms) => terms.iter().any(|t| eval(t, env)),
        Expr::And(values) => values.iter().all(|v| eval(v, env)),
        Expr::Not(inner) => !eval(inner, env),
        Expr::Compare(a, op, b) => compare(&value(a, env), *op, &value(b, env)),
        Expr::Bool(o) => match value(o, env) {
            Value::Bool(b) => b,
            other => panic!("{other:?} is not a boolean"),
        },
    }
}

/// compare.go: nil equals only nil; values of different types are never equal (and so always
/// `!=`: `invalidComparison` is true for `ne` only); strings, booleans, int64s and durations
/// compare by value, times by `Equal`/`Before`/`After` (`compareTime`: the instant, whatever
/// the location; a record's times carry no monotonic reading, so against `Now()` it is the wall
/// clock). Ordering across types is false.
fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn value(o: &Operand, env: &Env) -> Value {
    match o {
        Operand::Nil => Value::Nil,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Path(map, key) => env.src.attr(*map, key),
        // ctxlog/log.go: `Timestamp().AsTime()` is `time.Unix(0, int64(ts))`, and
        // `time_unix_nano` its `UnixNano()`: the unsigned timestamp read as an int64.
        Operand::Stamp(s, form) => {
            let ns = env.src.stamp(*s) as i64;
            match form {
                Form::Time => Value::Time(i128::from(ns)),
                Form::UnixNano => Value::Int(ns),
            }
        }
        // func_is_match.go: a nil target is never a match.
        Operand::IsMatch(target, re) => match value(target, env) {
            Value::Nil => Value::Bool(false),
            Value::Str(s) => Value::Bool(re.is_match(&s)),
            other => panic!("IsMatch on {other:?} not modelled"),
        },
        Operand::Now => Value::Time(i128::from(
            env.now.expect("Now() needs a clock: evaluate on a Log"),
        )),
        Operand::Duration(d) => Value::Duration(*d),
        // math.go `performOpTime`: `x.Add(d)`, `x.Add(-1 * d)`.
        Operand::Math(a, op, b) => match (value(a, env), value(b, env)) {
            (Value::Time(t), Value::Duration(d)) => Value::Time(match op {
                MathOp::Add => t + i128::from(d),
                MathOp::Sub => t - i128::from(d),
            }),
            (x, y) => panic!("math on {x:?} and {y:?} not modelled"),
        },
    }
}

/// Go's `time.ParseDuration` (src/time/format.go): a possibly signed sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`,
/// `h`), such as `300ms`, `-1.5h` or `1h30m`; a bare `0` is zero; the result, in nanoseconds,
/// must fit an int64 (uint64 accumulation bounded by `1<<63`, fractions through float64 as Go
/// does). The error says what Go's says.
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut s = orig.as_bytes();
    let mut d: u64 = 0;
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    while !s.is_empty() {
        // The next character must be [0-9.].
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leadingInt: [0-9]*, an error past 1<<63.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // leadingFraction: (\.[0-9]*)?, precision dropped (not an error) past int64.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[i] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            s = &s[i..];
        }
        if !pre && !post {
            // No digits (e.g. ".s" or "-.s").
            return Err(invalid());
        }
        // The unit: up to the next [0-9.].
        let i = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let (u, rest) = s.split_at(i);
        s = rest;
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" => 1_000,
            // U+00B5 (micro sign) and U+03BC (Greek mu).
            b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {:?} in duration {orig:?}",
                    String::from_utf8_lossy(u)
                ));
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // float64 is needed to be nanosecond accurate for fractions of hours.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        // Go adds in uint64, wrapping.
        d = d.wrapping_add(v);
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // -Duration(d): 1<<63 is int64's minimum.
        return Ok((d as i64).wrapping_neg());
    }
    i64::try_from(d).map_err(|_| invalid())
}
