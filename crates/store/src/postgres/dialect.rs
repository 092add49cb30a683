//! The store's SQL, written once in SQLite's dialect, rewritten for
//! PostgreSQL (issue #17).
//!
//! The store's statements are SQLite's (`?N` parameters, `INSERT OR
//! IGNORE`, `INDEXED BY` hints…). [`translate`] rewrites the constructs
//! that have a PostgreSQL equivalent with the same meaning, and refuses
//! the ones that do not (with the construct named), so that a statement
//! either means the same on both databases or fails on the first run of
//! its test against PostgreSQL — never silently means something else:
//!
//! | SQLite | PostgreSQL |
//! |---|---|
//! | `?N`, `?` | `$N`, `$k` (k-th bare parameter) |
//! | `INSERT OR IGNORE INTO …` | `INSERT INTO … ON CONFLICT DO NOTHING` (before `RETURNING`) |
//! | `… INDEXED BY name`, `NOT INDEXED` | (dropped: the planner chooses) |
//! | `IFNULL(a, b)` | `COALESCE(a, b)` |
//! | `MAX(a, b, …)`, `MIN(a, b, …)` (scalar, two or more arguments) | `GREATEST(…)`, `LEAST(…)` |
//! | `SUM(x)` | `CAST(SUM(x) AS BIGINT)` (PostgreSQL's sum of `BIGINT` is `NUMERIC`; the store sums minor units) |
//! | `TOTAL(x)` | `CAST(COALESCE(SUM(x), 0) AS DOUBLE PRECISION)` |
//! | `GROUP_CONCAT(x)`, `GROUP_CONCAT(x, s)` | `STRING_AGG(CAST(x AS TEXT), ',')`, `STRING_AGG(CAST(x AS TEXT), s)` |
//! | `CAST(x AS INTEGER)`, `AS REAL` | `AS BIGINT`, `AS DOUBLE PRECISION` |
//! | `a LIKE b` (ASCII case-insensitive) | `a ILIKE b` |
//! | `INSTR(a, b)` | `STRPOS(a, b)` |
//! | `UPPER(a)`, `LOWER(a)` (ASCII letters only) | `TRANSLATE(a, 'abc…z', 'ABC…Z')`, `TRANSLATE(a, 'ABC…Z', 'abc…z')` (PostgreSQL's follow the locale: `é` → `É`) |
//! | `LIMIT -1` | `LIMIT ALL` |
//! | `JSON_GROUP_ARRAY(x)` | `COALESCE(CAST(JSON_AGG(x) AS TEXT), '[]')` (text, `[]` when empty, as SQLite) |
//! | `JSON_OBJECT(k, v, …)`, `JSON(x)` | `CAST(JSON_BUILD_OBJECT(k, v, …) AS TEXT)`, `CAST(x AS JSON)` |
//! | `PRINTF('%0Nd', x)` (zero-padded ids) | `LPAD(CAST(x AS TEXT), N, '0')` |
//! | `a CROSS JOIN b ON …` (SQLite's ordered inner join) | `a JOIN b ON …` |
//!
//! Refused: `INSERT OR REPLACE` (write `ON CONFLICT (…) DO UPDATE`, which
//! both databases read alike), `rowid`, `GLOB`, `PRAGMA`, and the
//! functions `strftime`, `julianday`, `datetime`, `date`, `printf` (but
//! the padding above), `json_extract`, `json_each` (compute in Rust, or
//! give the statement a PostgreSQL twin).
//!
//! Written alike for both (the translation does not try): a subquery in
//! `FROM` has an alias; a condition is a comparison (`flag <> 0`, not
//! `flag`), since PostgreSQL's `BIGINT` is not a boolean; in `ON CONFLICT …
//! DO UPDATE SET`, the existing row's columns are named with their table
//! (`n = t.n + excluded.n`: unqualified, PostgreSQL finds them ambiguous); a parameter whose
//! type the statement does not fix (`?1 IS NULL`) is cast
//! (`CAST(?1 AS TEXT)`); text compares byte-wise only with `COLLATE "C"`
//! on PostgreSQL, so an order that matters is made of keys that sort alike.

use crate::StoreError;

/// A token of a statement.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A keyword or an identifier (unquoted).
    Word(String),
    /// A quoted identifier, kept as written (`"x"`).
    Quoted(String),
    /// A string literal, kept as written (`'it''s'`).
    Str(String),
    /// A number.
    Num(String),
    /// A parameter: `Some(n)` for `?n`, `None` for a bare `?`.
    Param(Option<u32>),
    /// Any other character (punctuation, operators).
    Punct(char),
    /// Whitespace and comments, as one space.
    Space,
}

fn refused(sql: &str, what: &str) -> StoreError {
    let head: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
    StoreError::Unsupported(format!("the PostgreSQL store cannot run `{what}` (in `{head}`): see postgres/dialect.rs"))
}

fn tokenize(sql: &str) -> Result<Vec<Tok>, StoreError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            push_space(&mut out);
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            push_space(&mut out);
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            push_space(&mut out);
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(refused(sql, "an unterminated quote")),
                    Some(q) if *q == c && chars.get(i + 1) == Some(&c) => i += 2,
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            let text: String = chars[start..i].iter().collect();
            out.push(if c == '\'' { Tok::Str(text) } else { Tok::Quoted(text) });
        } else if c == '?' {
            i += 1;
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            out.push(Tok::Param(if digits.is_empty() {
                None
            } else {
                Some(digits.parse().map_err(|_| refused(sql, "a parameter number"))?)
            }));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    Ok(out)
}

fn push_space(out: &mut Vec<Tok>) {
    if !matches!(out.last(), Some(Tok::Space) | None) {
        out.push(Tok::Space);
    }
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// The index of the next token that is not a space, from `i`.
fn next_solid(toks: &[Tok], mut i: usize) -> usize {
    while matches!(toks.get(i), Some(Tok::Space)) {
        i += 1;
    }
    i
}

/// For `(` at `open`: the index of its `)` and whether a comma sits at its
/// top level.
fn matching(toks: &[Tok], open: usize) -> Option<(usize, bool)> {
    let mut depth = 0usize;
    let mut comma = false;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some((i, comma));
                }
            }
            Tok::Punct(',') if depth == 1 => comma = true,
            _ => {}
        }
    }
    None
}

/// The statement as text: literals as written, runs of spaces elsewhere
/// (left by dropped tokens) collapsed.
fn render(toks: &[Tok]) -> String {
    let mut s = String::new();
    let push = |text: &str, s: &mut String| {
        for c in text.chars() {
            if !(c == ' ' && (s.ends_with(' ') || s.is_empty())) {
                s.push(c);
            }
        }
    };
    for t in toks {
        match t {
            Tok::Quoted(w) | Tok::Str(w) => s.push_str(w),
            Tok::Word(w) | Tok::Num(w) => push(w, &mut s),
            Tok::Param(Some(n)) => push(&format!("${n}"), &mut s),
            Tok::Param(None) => s.push('?'),
            Tok::Punct(c) => s.push(*c),
            Tok::Space => push(" ", &mut s),
        }
    }
    s.trim_end().to_string()
}

/// The letters SQLite's `upper` and `lower` change (it leaves every other character alone).
const LOWER_ASCII: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER_ASCII: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const REFUSED_FUNCTIONS: [&str; 10] =
    ["strftime", "julianday", "datetime", "date", "printf", "json_extract", "json_each", "json_object", "json", "time"];

/// `JSON_OBJECT(k, v, …)` → `CAST(JSON_BUILD_OBJECT(k, v, …) AS TEXT)` (text, as
/// SQLite's), `JSON(x)` → `CAST(x AS JSON)` (embedded as JSON, not as a
/// string, as SQLite does), and the zero padding of an integer
/// `PRINTF('%0Nd', x)` → `LPAD(CAST(x AS TEXT), N, '0')` (for the
/// non-negative integers the store pads: ids); any other `printf` stays,
/// and is refused.
fn json_and_padding(toks: &mut Vec<Tok>) {
    let mut i = 0;
    while i < toks.len() {
        let Tok::Word(w) = &toks[i] else {
            i += 1;
            continue;
        };
        let word = w.to_ascii_lowercase();
        let open = next_solid(toks, i + 1);
        let Some((close, _)) = matches!(toks.get(open), Some(Tok::Punct('('))).then(|| matching(toks, open)).flatten()
        else {
            i += 1;
            continue;
        };
        match word.as_str() {
            "json_object" => {
                toks.insert(close + 1, Tok::Word(" AS TEXT)".into()));
                toks[i] = Tok::Word("CAST(JSON_BUILD_OBJECT".into());
            }
            "json" => {
                toks.insert(close, Tok::Word(" AS JSON".into()));
                toks[i] = Tok::Word("CAST".into());
            }
            "printf" => {
                let format = next_solid(toks, open + 1);
                let comma = next_solid(toks, format + 1);
                let width = match toks.get(format) {
                    Some(Tok::Str(f)) => f
                        .strip_prefix("'%0")
                        .and_then(|f| f.strip_suffix("d'"))
                        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                        .map(str::to_string),
                    _ => None,
                };
                let one_more = matches!(toks.get(comma), Some(Tok::Punct(',')))
                    && !toks[comma + 1..close].iter().any(|t| matches!(t, Tok::Punct(',')));
                if let (Some(n), true) = (width, one_more) {
                    toks.insert(close, Tok::Word(format!(" AS TEXT), {n}, '0'")));
                    let value = next_solid(toks, comma + 1);
                    toks.splice(open + 1..value, [Tok::Word("CAST(".into())]);
                    toks[i] = Tok::Word("LPAD".into());
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// `a CROSS JOIN b ON …` (SQLite's inner join that keeps the loop order)
/// → `a JOIN b ON …` (PostgreSQL's `CROSS JOIN` takes no `ON`); a
/// `CROSS JOIN` without `ON` stays a cross join.
fn cross_join_on(toks: &mut Vec<Tok>) {
    const ENDS: [&str; 12] =
        ["on", "using", "join", "cross", "inner", "left", "where", "group", "order", "limit", "union", "natural"];
    let mut i = 0;
    while i < toks.len() {
        let join = next_solid(toks, i + 1);
        if !(is_word(toks.get(i), "cross") && is_word(toks.get(join), "join")) {
            i += 1;
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        for t in &toks[join + 1..] {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => break,
                Tok::Punct(')') => depth -= 1,
                Tok::Punct(',') if depth == 0 => break,
                Tok::Word(w) if depth == 0 && ENDS.iter().any(|e| w.eq_ignore_ascii_case(e)) => {
                    end = Some(w.to_ascii_lowercase());
                    break;
                }
                _ => {}
            }
        }
        if end.as_deref() == Some("on") {
            toks.drain(i..join);
        }
        i = join.max(i + 1);
    }
}

/// Rewrites one statement (see the module documentation).
pub(crate) fn translate(sql: &str) -> Result<String, StoreError> {
    let mut toks = tokenize(sql)?;
    // Bare `?`: numbered in order, as SQLite numbers them (after the largest `?N` seen so far).
    let mut largest = 0u32;
    for t in toks.iter_mut() {
        if let Tok::Param(p) = t {
            let n = match p {
                Some(n) => *n,
                None => largest + 1,
            };
            largest = largest.max(n);
            *p = Some(n);
        }
    }
    json_and_padding(&mut toks);
    cross_join_on(&mut toks);
    let mut on_conflict_nothing = false;
    let mut i = 0;
    while i < toks.len() {
        let Tok::Word(w) = &toks[i] else {
            i += 1;
            continue;
        };
        let word = w.to_ascii_lowercase();
        let after = next_solid(&toks, i + 1);
        let called = matches!(toks.get(after), Some(Tok::Punct('(')));
        match word.as_str() {
            "insert" if is_word(toks.get(after), "or") => {
                let what = next_solid(&toks, after + 1);
                if is_word(toks.get(what), "ignore") {
                    toks.drain(i + 1..=what);
                    on_conflict_nothing = true;
                } else {
                    return Err(refused(sql, "INSERT OR REPLACE / ABORT / FAIL (write ON CONFLICT … DO UPDATE)"));
                }
            }
            "indexed" if is_word(toks.get(after), "by") => {
                let name = next_solid(&toks, after + 1);
                // `NOT INDEXED` is handled below; here: INDEXED BY <name>.
                toks.drain(i..=name);
                continue;
            }
            "not" if is_word(toks.get(after), "indexed") => {
                toks.drain(i..=after);
                continue;
            }
            "rowid" | "glob" | "pragma" => return Err(refused(sql, &word)),
            f if called && REFUSED_FUNCTIONS.contains(&f) => return Err(refused(sql, &format!("{f}()"))),
            "ifnull" if called => toks[i] = Tok::Word("COALESCE".into()),
            "instr" if called => toks[i] = Tok::Word("STRPOS".into()),
            "like" => toks[i] = Tok::Word("ILIKE".into()),
            "upper" | "lower" if called => {
                let Some((close, comma)) = matching(&toks, after) else {
                    return Err(refused(sql, "an unbalanced parenthesis"));
                };
                if !comma {
                    let (from, to) =
                        if word == "upper" { (LOWER_ASCII, UPPER_ASCII) } else { (UPPER_ASCII, LOWER_ASCII) };
                    toks.insert(close, Tok::Word(format!(", '{from}', '{to}'")));
                    toks[i] = Tok::Word("TRANSLATE".into());
                }
            }
            "max" | "min" if called => {
                if let Some((_, true)) = matching(&toks, after) {
                    toks[i] = Tok::Word(if word == "max" { "GREATEST" } else { "LEAST" }.into());
                }
            }
            "sum" | "total" if called => {
                let Some((close, _)) = matching(&toks, after) else {
                    return Err(refused(sql, "an unbalanced parenthesis"));
                };
                let (head, tail) = if word == "sum" {
                    ("CAST(SUM", " AS BIGINT)")
                } else {
                    ("CAST(COALESCE(SUM", ", 0) AS DOUBLE PRECISION)")
                };
                toks.insert(close + 1, Tok::Word(tail.into()));
                toks[i] = Tok::Word(head.into());
                i = after;
                continue;
            }
            "json_group_array" if called => {
                let Some((close, _)) = matching(&toks, after) else {
                    return Err(refused(sql, "an unbalanced parenthesis"));
                };
                toks.insert(close + 1, Tok::Word(" AS TEXT), '[]')".into()));
                toks[i] = Tok::Word("COALESCE(CAST(JSON_AGG".into());
                i = after;
                continue;
            }
            "group_concat" if called => {
                let Some((close, comma)) = matching(&toks, after) else {
                    return Err(refused(sql, "an unbalanced parenthesis"));
                };
                // The first argument ends at the top-level comma, or at `close`.
                let mut depth = 0usize;
                let mut end = close;
                for (j, t) in toks.iter().enumerate().take(close).skip(after) {
                    match t {
                        Tok::Punct('(') => depth += 1,
                        Tok::Punct(')') => depth -= 1,
                        Tok::Punct(',') if depth == 1 => {
                            end = j;
                            break;
                        }
                        _ => {}
                    }
                }
                if !comma {
                    toks.insert(close, Tok::Word(", ','".into()));
                }
                toks.insert(end, Tok::Word(" AS TEXT)".into()));
                toks.insert(after + 1, Tok::Word("CAST(".into()));
                toks[i] = Tok::Word("STRING_AGG".into());
            }
            "as" => {
                if is_word(toks.get(after), "integer") {
                    toks[after] = Tok::Word("BIGINT".into());
                } else if is_word(toks.get(after), "real") {
                    toks[after] = Tok::Word("DOUBLE PRECISION".into());
                }
            }
            "limit"
                if matches!(toks.get(after), Some(Tok::Punct('-')))
                    && matches!(toks.get(after + 1), Some(Tok::Num(n)) if n == "1") =>
            {
                toks.drain(after..=after + 1);
                toks.insert(after, Tok::Word("ALL".into()));
            }
            _ => {}
        }
        i += 1;
    }
    if on_conflict_nothing {
        // Before a top-level RETURNING, else at the end.
        let mut depth = 0usize;
        let mut at = toks.len();
        for (j, t) in toks.iter().enumerate() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth = depth.saturating_sub(1),
                Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("returning") => {
                    at = j;
                    break;
                }
                _ => {}
            }
        }
        if matches!(toks.last(), Some(Tok::Punct(';'))) && at == toks.len() {
            at -= 1;
        }
        toks.insert(at, Tok::Word(" ON CONFLICT DO NOTHING ".into()));
    }
    Ok(render(&toks))
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn t(sql: &str) -> String {
        translate(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn parameters_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(t("SELECT a FROM x WHERE b=?1 AND c=?2 AND d=?1"), "SELECT a FROM x WHERE b=$1 AND c=$2 AND d=$1");
        assert_eq!(t("INSERT INTO x (a, b) VALUES (?, ?)"), "INSERT INTO x (a, b) VALUES ($1, $2)");
        assert_eq!(t("SELECT ?3, ?"), "SELECT $3, $4");
        // Not inside literals or quoted identifiers.
        assert_eq!(t("SELECT '?1', \"a?\" FROM x WHERE y = ?1"), "SELECT '?1', \"a?\" FROM x WHERE y = $1");
        assert_eq!(t("SELECT 'it''s ?' WHERE a = ?1"), "SELECT 'it''s ?' WHERE a = $1");
    }

    #[test]
    fn insert_or_ignore_becomes_on_conflict_do_nothing() {
        assert_eq!(
            t("INSERT OR IGNORE INTO x (a) VALUES (?1)"),
            "INSERT INTO x (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            t("insert or ignore into x (a) values (?1) returning id"),
            "insert into x (a) values ($1) ON CONFLICT DO NOTHING returning id"
        );
        assert!(translate("INSERT OR REPLACE INTO x (a) VALUES (1)").is_err());
    }

    #[test]
    fn index_hints_are_dropped() {
        assert_eq!(
            t("SELECT a FROM invoices INDEXED BY invoices_open WHERE b = 1"),
            "SELECT a FROM invoices WHERE b = 1"
        );
        assert_eq!(t("SELECT a FROM invoices NOT INDEXED WHERE b = 1"), "SELECT a FROM invoices WHERE b = 1");
        // A column called `indexed` is not a hint.
        assert_eq!(t("SELECT indexed FROM x"), "SELECT indexed FROM x");
    }

    #[test]
    fn functions_are_renamed_and_aggregates_typed() {
        assert_eq!(t("SELECT IFNULL(a, 0) FROM x"), "SELECT COALESCE(a, 0) FROM x");
        assert_eq!(t("SELECT MAX(a, b), MAX(c) FROM x"), "SELECT GREATEST(a, b), MAX(c) FROM x");
        assert_eq!(t("SELECT min(a, (b + 1)) FROM x"), "SELECT LEAST(a, (b + 1)) FROM x");
        assert_eq!(t("SELECT SUM(a * (b - 1)) FROM x"), "SELECT CAST(SUM(a * (b - 1)) AS BIGINT) FROM x");
        assert_eq!(t("SELECT total(a) FROM x"), "SELECT CAST(COALESCE(SUM(a), 0) AS DOUBLE PRECISION) FROM x");
        assert_eq!(
            t("SELECT COALESCE(SUM(a), 0), SUM(MAX(b, c)) FROM x"),
            "SELECT COALESCE(CAST(SUM(a) AS BIGINT), 0), CAST(SUM(GREATEST(b, c)) AS BIGINT) FROM x"
        );
        assert_eq!(t("SELECT GROUP_CONCAT(n) FROM x"), "SELECT STRING_AGG(CAST(n AS TEXT), ',') FROM x");
        assert_eq!(t("SELECT group_concat(f(n), ' ') FROM x"), "SELECT STRING_AGG(CAST(f(n) AS TEXT), ' ') FROM x");
        assert_eq!(
            t("SELECT CAST(a AS INTEGER), CAST(b AS REAL) FROM x"),
            "SELECT CAST(a AS BIGINT), CAST(b AS DOUBLE PRECISION) FROM x"
        );
        assert_eq!(t("SELECT INSTR(a, 'x') FROM x"), "SELECT STRPOS(a, 'x') FROM x");
        assert_eq!(
            t("SELECT (SELECT json_group_array(i) FROM y) FROM x"),
            "SELECT (SELECT COALESCE(CAST(JSON_AGG(i) AS TEXT), '[]') FROM y) FROM x"
        );
        assert_eq!(t("SELECT a FROM x WHERE a LIKE ?1 LIMIT -1"), "SELECT a FROM x WHERE a ILIKE $1 LIMIT ALL");
    }

    #[test]
    fn upper_and_lower_change_ascii_letters_only_as_sqlite_does() {
        assert_eq!(
            t("SELECT n FROM x WHERE upper(n)=UPPER(?2)"),
            "SELECT n FROM x WHERE TRANSLATE(n, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')=\
             TRANSLATE($2, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
        );
        assert_eq!(
            t("SELECT lower(coalesce(a, '') || b) FROM x"),
            "SELECT TRANSLATE(coalesce(a, '') || b, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') FROM x"
        );
        // A column named `upper` is fine.
        assert_eq!(t("SELECT upper FROM x"), "SELECT upper FROM x");
    }

    #[test]
    fn constructs_without_an_equivalent_are_refused_by_name() {
        for (sql, what) in [
            ("SELECT strftime('%Y', d) FROM x", "strftime()"),
            ("SELECT rowid FROM x", "rowid"),
            ("SELECT json_extract(d, '$.a') FROM x", "json_extract()"),
            ("SELECT date('now')", "date()"),
            ("PRAGMA user_version", "pragma"),
        ] {
            let e = translate(sql).unwrap_err().to_string();
            assert!(e.contains(what), "{sql}: {e}");
        }
        // A column named `date` is fine.
        assert_eq!(t("SELECT date FROM x -- the day\n WHERE a = 1"), "SELECT date FROM x WHERE a = 1");
    }

    #[test]
    fn json_objects_padding_and_ordered_joins_have_postgresql_twins() {
        assert_eq!(
            t("SELECT json_object('a', x.id, 'b', json(x.data)) FROM x"),
            "SELECT CAST(JSON_BUILD_OBJECT('a', x.id, 'b', CAST(x.data AS JSON)) AS TEXT) FROM x"
        );
        assert_eq!(t("SELECT printf('%012d', a.id) FROM a"), "SELECT LPAD(CAST(a.id AS TEXT), 12, '0') FROM a");
        assert_eq!(
            t("SELECT 1 FROM i CROSS JOIN a INDEXED BY a_i ON a.n=i.n CROSS JOIN b WHERE i.t=?1"),
            "SELECT 1 FROM i JOIN a ON a.n=i.n CROSS JOIN b WHERE i.t=$1"
        );
        assert_eq!(
            t("SELECT 1 FROM (SELECT 2 FROM c CROSS JOIN d) AS s CROSS JOIN e ON e.x=s.x"),
            "SELECT 1 FROM (SELECT 2 FROM c CROSS JOIN d) AS s JOIN e ON e.x=s.x"
        );
        // Other formats have no twin.
        for sql in ["SELECT printf('%.2f', a) FROM x", "SELECT printf('%012d', a, b) FROM x"] {
            assert!(translate(sql).unwrap_err().to_string().contains("printf()"), "{sql}");
        }
    }
}
