//! The PostgreSQL schema against the SQLite one, and the runner's rules.
//!
//! The server tests run against `TEST_PG_URL` (scripts/test.sh starts the
//! server), each in a fresh schema of its own (`SET search_path` through the
//! URL's `options`) dropped at the end. Without `TEST_PG_URL` they print a
//! note and pass, unless `RELANCE_TEST_SERVERS=required`.
//!
//! Both schemas are read into one normalised model: a set of facts, one
//! line each (a column with its type class, nullability and whether it has
//! a default; a primary key; a unique constraint by its columns; an index
//! by name with its columns, uniqueness and predicate; a foreign key with
//! its actions). The comparison prints the facts only one side has.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::DatabaseUrl;

use crate::testing::{ScratchSchema as Scratch, server_url};

/// Type classes shared by both databases.
fn sqlite_class(declared: &str) -> &'static str {
    // SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1).
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.is_empty() || t.contains("BLOB") {
        "blob"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        "numeric"
    }
}

fn postgres_class(data_type: &str) -> String {
    match data_type {
        "bigint" | "integer" | "smallint" => "integer".into(),
        "text" | "character varying" | "character" => "text".into(),
        "double precision" | "real" => "real".into(),
        "bytea" => "blob".into(),
        other => format!("unmapped:{other}"),
    }
}

/// A partial index's predicate as a token list both databases agree on:
/// PostgreSQL prints `status = ANY (ARRAY['a'::text, 'b'::text])` for
/// SQLite's `status IN ('a', 'b')` and `<> ALL` for `NOT IN`; casts,
/// brackets and commas are dropped, words lowered.
fn predicate_tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut raw = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut s = String::from("'");
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push_str("''");
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            s.push('\'');
            raw.push(s);
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            raw.push(chars[start..i].iter().collect::<String>().to_lowercase());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            // A cast (`::text`, `::bigint`): skip it and the type name.
            i += 2;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if "<>=!".contains(c) {
            let start = i;
            while i < chars.len() && "<>=!".contains(chars[i]) {
                i += 1;
            }
            raw.push(chars[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let mut k = 0;
    while k < raw.len() {
        match (raw[k].as_str(), raw.get(k + 1).map(String::as_str)) {
            ("not", Some("in")) => {
                out.extend(["<>".to_string(), "all".to_string()]);
                k += 2;
            }
            ("in", _) => {
                out.extend(["=".to_string(), "any".to_string()]);
                k += 1;
            }
            ("array", _) => k += 1,
            ("!=", _) => {
                out.push("<>".into());
                k += 1;
            }
            ("==", _) => {
                out.push("=".into());
                k += 1;
            }
            _ => {
                out.push(raw[k].clone());
                k += 1;
            }
        }
    }
    out
}

/// An index's expression column, in the same form on both sides.
fn expression(sql: &str) -> String {
    format!("<expr {}>", predicate_tokens(sql).join(" "))
}

/// The column list of a `CREATE INDEX … ON t (a, f(b, c), d)` statement,
/// one text per column.
fn index_column_texts(create_index: &str) -> Vec<String> {
    let upper = create_index.to_ascii_uppercase();
    let Some(on) = upper.find(" ON ") else { return Vec::new() };
    let Some(open) = create_index[on..].find('(').map(|i| on + i) else { return Vec::new() };
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for (i, c) in create_index[open..].char_indices().map(|(i, c)| (open + i, c)) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    parts.push(create_index[start..i].trim().to_string());
                    break;
                }
            }
            ',' if depth == 1 => {
                parts.push(create_index[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts
}

fn where_clause(create_index: &str) -> Option<String> {
    let upper = create_index.to_ascii_uppercase();
    upper.rfind(" WHERE ").map(|at| create_index[at + 7..].to_string())
}

fn list(cols: &[String]) -> String {
    cols.join(", ")
}

fn fk_action(code: &str) -> &'static str {
    match code {
        "a" | "NO ACTION" => "no action",
        "r" | "RESTRICT" => "restrict",
        "c" | "CASCADE" => "cascade",
        "n" | "SET NULL" => "set null",
        "d" | "SET DEFAULT" => "set default",
        _ => "unknown",
    }
}

fn index_fact(table: &str, name: &str, unique: bool, columns: &[String], predicate: Option<&str>) -> String {
    format!(
        "{table}: {}index {name} ({}){}",
        if unique { "unique " } else { "" },
        list(columns),
        predicate.map(|p| format!(" where {}", predicate_tokens(p).join(" "))).unwrap_or_default()
    )
}

/// The SQLite schema the store's migrations build, as facts.
fn sqlite_facts(path: &Path) -> BTreeSet<String> {
    crate::Store::open_sqlite(path).expect("SQLite migrations");
    let c = rusqlite::Connection::open(path).expect("open SQLite");
    let mut facts = BTreeSet::new();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    for t in &tables {
        let cols: Vec<(String, String, bool, bool, i64)> = c
            .prepare("SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)")
            .and_then(|mut s| {
                s.query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?.collect()
            })
            .expect("columns");
        let mut pk: Vec<(i64, String)> = Vec::new();
        for (name, ty, not_null, default, pk_pos) in &cols {
            // PostgreSQL makes key columns NOT NULL; SQLite's rowid tables
            // would accept a NULL in a non-integer key (`deferred_indexes.name`),
            // which the store never writes.
            let not_null = *not_null || *pk_pos > 0;
            facts.insert(format!(
                "{t}: column {name} {}{}{}",
                sqlite_class(ty),
                if not_null { " not null" } else { "" },
                if *default { " default" } else { "" }
            ));
            if *pk_pos > 0 {
                pk.push((*pk_pos, name.clone()));
            }
        }
        pk.sort();
        if !pk.is_empty() {
            facts.insert(format!("{t}: primary key ({})", list(&pk.into_iter().map(|(_, n)| n).collect::<Vec<_>>())));
        }
        let indexes: Vec<(String, bool, String)> = c
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")
            .and_then(|mut s| s.query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .expect("indexes");
        for (name, unique, origin) in indexes {
            let named: Vec<Option<String>> = c
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                .and_then(|mut s| s.query_map([&name], |r| r.get(0))?.collect())
                .expect("index columns");
            // Automatic indexes (keys) have no SQL; created ones keep theirs,
            // where an expression column is read.
            let sql: Option<String> = rusqlite::OptionalExtension::optional(c.query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [&name],
                |r| r.get::<_, Option<String>>(0),
            ))
            .expect("index sql")
            .flatten();
            let texts = sql.as_deref().map(index_column_texts).unwrap_or_default();
            let columns: Vec<String> = named
                .into_iter()
                .enumerate()
                .map(|(i, n)| n.unwrap_or_else(|| expression(texts.get(i).map(String::as_str).unwrap_or("?"))))
                .collect();
            match origin.as_str() {
                "pk" => {}
                "u" => {
                    facts.insert(format!("{t}: unique ({})", list(&columns)));
                }
                _ => {
                    let predicate = sql.as_deref().and_then(where_clause);
                    facts.insert(index_fact(t, &name, unique, &columns, predicate.as_deref()));
                }
            }
        }
        let fks: Vec<(i64, String, String, Option<String>, String, String)> = c
            .prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq")
            .and_then(|mut s| {
                s.query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?.collect()
            })
            .expect("foreign keys");
        let mut ids: Vec<i64> = fks.iter().map(|f| f.0).collect();
        ids.dedup();
        for id in ids {
            let parts: Vec<_> = fks.iter().filter(|f| f.0 == id).collect();
            let from: Vec<String> = parts.iter().map(|f| f.2.clone()).collect();
            let to: Vec<String> = parts.iter().map(|f| f.3.clone().unwrap_or_else(|| "<primary key>".into())).collect();
            facts.insert(format!(
                "{t}: foreign key ({}) references {} ({}) on update {} on delete {}",
                list(&from),
                parts[0].1,
                list(&to),
                fk_action(&parts[0].4),
                fk_action(&parts[0].5)
            ));
        }
    }
    facts
}

/// The PostgreSQL schema `schema` holds, as facts (without the runner's
/// `schema_migrations`).
fn postgres_facts(conn: &mut PgConn, schema: &str) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    let skip = |t: &str| t == "schema_migrations";
    for r in conn
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO', column_default IS NOT NULL
               FROM information_schema.columns WHERE table_schema = $1",
            &[&schema],
        )
        .expect("columns")
    {
        let (t, name, ty, not_null, default): (String, String, String, bool, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        if skip(&t) {
            continue;
        }
        facts.insert(format!(
            "{t}: column {name} {}{}{}",
            postgres_class(&ty),
            if not_null { " not null" } else { "" },
            if default { " default" } else { "" }
        ));
    }
    let key_columns = |keys: &str, rel: &str| {
        format!(
            "ARRAY(SELECT a.attname::text FROM unnest(con.{keys}) WITH ORDINALITY k(n, ord)
                     JOIN pg_attribute a ON a.attrelid = con.{rel} AND a.attnum = k.n ORDER BY k.ord)"
        )
    };
    let constraints = format!(
        "SELECT cl.relname::text, con.contype::text, {}, coalesce(fcl.relname::text, ''), {},
                con.confupdtype::text, con.confdeltype::text
           FROM pg_constraint con
           JOIN pg_class cl ON cl.oid = con.conrelid
           JOIN pg_namespace ns ON ns.oid = cl.relnamespace
           LEFT JOIN pg_class fcl ON fcl.oid = con.confrelid
          WHERE ns.nspname = $1 AND con.contype IN ('p', 'u', 'f')",
        key_columns("conkey", "conrelid"),
        key_columns("confkey", "confrelid")
    );
    for r in conn.query(&constraints, &[&schema]).expect("constraints") {
        let (t, kind, cols, parent, parent_cols, on_update, on_delete): (
            String,
            String,
            Vec<String>,
            String,
            Vec<String>,
            String,
            String,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6));
        if skip(&t) {
            continue;
        }
        let fact = match kind.as_str() {
            "p" => format!("{t}: primary key ({})", list(&cols)),
            "u" => format!("{t}: unique ({})", list(&cols)),
            _ => format!(
                "{t}: foreign key ({}) references {parent} ({}) on update {} on delete {}",
                list(&cols),
                list(&parent_cols),
                fk_action(&on_update),
                fk_action(&on_delete)
            ),
        };
        facts.insert(fact);
    }
    for r in conn
        .query(
            "SELECT t.relname::text, i.relname::text, ix.indisunique,
                    ARRAY(SELECT CASE WHEN k.n = 0 THEN 'expr:' || pg_get_indexdef(ix.indexrelid, k.ord::int, true)
                                      ELSE a.attname::text END
                            FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, ord)
                            LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n
                           ORDER BY k.ord),
                    pg_get_expr(ix.indpred, ix.indrelid)
               FROM pg_index ix
               JOIN pg_class i ON i.oid = ix.indexrelid
               JOIN pg_class t ON t.oid = ix.indrelid
               JOIN pg_namespace ns ON ns.oid = t.relnamespace
              WHERE ns.nspname = $1
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype IN ('p', 'u'))",
            &[&schema],
        )
        .expect("indexes")
    {
        let (t, name, unique, cols, predicate): (String, String, bool, Vec<String>, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        if skip(&t) {
            continue;
        }
        let cols: Vec<String> =
            cols.into_iter().map(|c| c.strip_prefix("expr:").map(expression).unwrap_or(c)).collect();
        facts.insert(index_fact(&t, &name, unique, &cols, predicate.as_deref()));
    }
    facts
}

#[test]
fn migrations_are_twins_by_number_and_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |sub: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join(sub))
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".sql").to_string())
            .collect();
        v.sort();
        v
    };
    let embedded: Vec<String> = MIGRATIONS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names("postgres"), names("sqlite"));
    assert_eq!(embedded, names("postgres"), "postgres.rs MIGRATIONS must list every file, in order");
    assert_eq!(MIGRATIONS.len(), crate::sqlite::MIGRATIONS.len());
    for (i, (name, _)) in MIGRATIONS.iter().enumerate() {
        assert!(name.starts_with(&format!("{:04}_", i + 1)), "{name} is not version {}", i + 1);
    }
}

#[test]
fn urls_parse_and_hide_their_password() {
    let data = Path::new("/data");
    let pg = DatabaseUrl::parse("postgresql://relance:s3cret@db.example:5432/relance?sslmode=require", data)
        .expect("a PostgreSQL URL");
    let DatabaseUrl::Postgres(url) = &pg else { panic!("{pg:?} is not PostgreSQL") };
    assert_eq!(url.to_string(), "postgresql://relance:***@db.example:5432/relance?sslmode=require");
    assert!(!format!("{pg:?}").contains("s3cret"));
    assert_eq!(url.expose(), "postgresql://relance:s3cret@db.example:5432/relance?sslmode=require");
    let no_password = PostgresUrl::parse("postgres://relance@localhost/relance").expect("valid");
    assert_eq!(no_password.to_string(), "postgres://relance@localhost/relance");
    assert_eq!(DatabaseUrl::parse("sqlite:x.db", data), Ok(DatabaseUrl::Sqlite(data.join("x.db"))));
    let bad = DatabaseUrl::parse("mysql://u:pw@h/db", data).unwrap_err();
    assert!(!bad.contains("pw"), "{bad}");
    let bad = DatabaseUrl::parse("postgres://u:pw@h/db?sslmode=sometimes", data).unwrap_err();
    assert!(bad.contains("invalid PostgreSQL URL") && !bad.contains("pw@"), "{bad}");
}

#[test]
fn opening_an_unreachable_server_names_it_without_the_password() {
    let url = DatabaseUrl::parse("postgres://relance:secret@127.0.0.1:1/relance", Path::new("/")).expect("valid");
    let err = crate::Store::open(&url).err().expect("nothing listens on port 1").to_string();
    assert!(!err.contains("secret"), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(crate::Store::lock_daemon(&url).is_ok(), "daemons share a PostgreSQL database");
}

#[test]
fn predicates_normalise_alike() {
    assert_eq!(
        predicate_tokens("total_minor > 0 AND status NOT IN ('cancelled', 'credit_note')"),
        predicate_tokens("((total_minor > 0) AND (status <> ALL (ARRAY['cancelled'::text, 'credit_note'::text])))")
    );
    assert_eq!(predicate_tokens("status = 'sent'"), predicate_tokens("(status = 'sent'::text)"));
    assert_ne!(predicate_tokens("reversed_at IS NULL"), predicate_tokens("(reversed_at IS NOT NULL)"));
    assert_ne!(predicate_tokens("status IN ('a', 'b')"), predicate_tokens("status IN ('a', 'c')"));
}

#[test]
fn postgres_schema_is_the_sqlite_schema() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    let done = migrate(&scratch.url).expect("PostgreSQL migrations");
    assert_eq!((done.from, done.to, done.applied.len()), (0, POSTGRES_SCHEMA_VERSION, MIGRATIONS.len()));

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_facts(&dir.path().join("relance.db"));
    let mut conn = PgConn::connect(&scratch.url).expect("connect");
    let postgres = postgres_facts(&mut conn, &scratch.name);

    // The model is not empty on either side (a broken introspection would
    // make two empty sets equal).
    for facts in [&sqlite, &postgres] {
        assert!(facts.iter().any(|f| f.starts_with("invoices: primary key (tenant_id, number)")), "{facts:#?}");
        assert!(facts.iter().any(|f| f.starts_with("web_sessions: foreign key (tenant_id, user_name)")));
        assert!(facts.iter().any(|f| f.contains("index payments_unapplied_by_iban")));
        assert!(facts.len() > 300, "{} facts", facts.len());
    }
    eprintln!("{} schema facts compared", sqlite.len());
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    if !only_sqlite.is_empty() || !only_postgres.is_empty() {
        let mut diff = String::new();
        for f in &only_sqlite {
            diff.push_str(&format!("- sqlite only:   {f}\n"));
        }
        for f in &only_postgres {
            diff.push_str(&format!("+ postgres only: {f}\n"));
        }
        panic!("the PostgreSQL and SQLite schemas differ:\n{diff}");
    }
}

#[test]
fn migrating_twice_applies_nothing() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    let first = migrate(&scratch.url).expect("first run");
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    let second = migrate(&scratch.url).expect("second run");
    assert_eq!(second, PgMigration { from: POSTGRES_SCHEMA_VERSION, to: POSTGRES_SCHEMA_VERSION, applied: vec![] });
    let conn = PgConn::connect(&scratch.url).expect("connect");
    let rows = conn.query("SELECT count(*), max(version) FROM schema_migrations", &[]).expect("count");
    let (count, max): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!((count, max), (POSTGRES_SCHEMA_VERSION, POSTGRES_SCHEMA_VERSION));
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    migrate(&scratch.url).expect("first run");
    let conn = PgConn::connect(&scratch.url).expect("connect");
    let next = POSTGRES_SCHEMA_VERSION + 1;
    conn.query(
        "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES ($1, 'from_the_future', '', '')",
        &[&next],
    )
    .expect("record a newer version");
    let err = migrate(&scratch.url).expect_err("a newer schema is refused");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains(&format!("version {next} is newer than this binary")), "{err}");
}

#[test]
fn a_failed_migration_leaves_nothing() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    let conn = PgConn::connect(&scratch.url).expect("connect");
    // A table 0001 creates already exists: the run fails and rolls back.
    conn.batch("CREATE TABLE customers (x BIGINT)").expect("squat a table");
    let err = migrate(&scratch.url).expect_err("0001 cannot create customers");
    assert!(matches!(&err, StoreError::Migration { name: "0001_foundation", .. }), "{err}");
    let rows = conn
        .query("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", &[&scratch.name])
        .expect("tables");
    assert_eq!(rows[0].get::<_, i64>(0), 1, "only the squatter is left: no schema_migrations, no invoices");
}

#[test]
fn concurrent_runs_migrate_once() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    let runs: Vec<PgMigration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| migrate(&scratch.url).expect("a run"))).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let applied: usize = runs.iter().map(|r| r.applied.len()).sum();
    assert_eq!(applied, MIGRATIONS.len(), "{runs:?}");
    assert!(runs.iter().all(|r| r.to == POSTGRES_SCHEMA_VERSION));
}

#[test]
fn expression_columns_are_read_from_the_index_statement() {
    let cols = index_column_texts(
        "CREATE INDEX i ON invoices\n    (tenant_id, coalesce(issue_date, substr(created_at, 1, 10)), due_date)",
    );
    assert_eq!(cols, ["tenant_id", "coalesce(issue_date, substr(created_at, 1, 10))", "due_date"]);
    assert_eq!(
        expression(&cols[1]),
        expression("COALESCE(issue_date, substr(created_at, 1, 10))"),
        "PostgreSQL prints COALESCE in capitals"
    );
    assert_ne!(expression("substr(updated_at, 1, 7)"), expression("substr(updated_at, 1, 10)"));
}

/// `store copy` from SQLite to PostgreSQL and back: a generated world (every
/// workspace table filled) arrives whole on each side, the PostgreSQL
/// identities continue after the copied ids, and a non-empty destination is
/// refused.
#[test]
fn a_world_copies_to_postgres_and_back_unchanged() {
    let Some(base) = server_url() else { return };
    let scratch = Scratch::new(&base);
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    let tenant = relance_domain::TenantId::new("copy").unwrap();
    {
        let store = crate::Store::open_sqlite(&first).unwrap();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        store.generate_report_world(&tenant, &crate::ReportWorld { invoices: 3_000, customers: 150, as_of }).unwrap();
        store.generate_ui_world(&tenant, &crate::UiWorld { invoices: 3_000, customers: 150, as_of }).unwrap();
        store.set_connector_state(&tenant, "bank", "cursor", "é→😀").unwrap();
        for n in 0..3 {
            store.record_event(&tenant, "tester", "test.event", "x", &serde_json::json!({ "n": n })).unwrap();
        }
    }
    let sqlite = DatabaseUrl::Sqlite(first.clone());
    let pg = DatabaseUrl::Postgres(scratch.url.clone());
    let back = DatabaseUrl::Sqlite(dir.path().join("back.db"));

    let there = crate::copy_database(&sqlite, &pg, &mut |_, _| {}).unwrap();
    assert!(there.mismatches().is_empty(), "{:?}", there.mismatches());
    let filled = there.tables.iter().filter(|t| t.source.rows > 0).count();
    assert!(filled >= 12, "the world fills most tables: {:?}", there.tables);
    assert!(there.rows() > 4_000, "{}", there.rows());

    let home = crate::copy_database(&pg, &back, &mut |_, _| {}).unwrap();
    assert!(home.mismatches().is_empty(), "{:?}", home.mismatches());
    let a = crate::table_digests(&sqlite).unwrap();
    assert_eq!(a, crate::table_digests(&pg).unwrap());
    assert_eq!(a, crate::table_digests(&back).unwrap());

    // A row inserted in PostgreSQL after the copy gets a new id.
    let conn = PgConn::connect(&scratch.url).unwrap();
    let max: i64 = conn.query("SELECT MAX(id) FROM audit_events", &[]).unwrap()[0].get(0);
    let id: i64 = conn
        .query(
            "INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data)
             VALUES ('copy', '2026-11-30T00:00:00Z', 'test', 'k', 's', '{}') RETURNING id",
            &[],
        )
        .unwrap()[0]
        .get(0);
    assert_eq!(id, max + 1);

    // The destination now holds rows: a second copy is refused and changes nothing.
    let again = crate::copy_database(&sqlite, &pg, &mut |_, _| {}).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
    let n: i64 = conn.query("SELECT COUNT(*) FROM audit_events", &[]).unwrap()[0].get(0);
    assert_eq!(n as u64, a.iter().find(|(t, _)| t == "audit_events").unwrap().1.rows + 1);
}

/// The translated dialect runs on the server and means what it means on
/// SQLite: the same statements, through `db::Db`, give the same rows.
#[test]
fn translated_statements_give_the_same_rows_on_both_databases() {
    use crate::db::{Db, args};
    let Some(scratch) = Scratch::for_test() else { return };
    let pool = PgPool::open(&scratch.url).unwrap();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    let statements: [(&str, &[crate::db::Value]); 4] = [
        ("INSERT OR IGNORE INTO t (k, n, s) VALUES (?1, ?2, ?3)", args!["a", 5, "x"]),
        ("INSERT OR IGNORE INTO t (k, n, s) VALUES (?1, ?2, ?3)", args!["a", 6, "dup"]),
        ("INSERT INTO t (k, n, s) VALUES (?, ?, ?)", args!["b", 7, None::<String>]),
        ("INSERT INTO t (k, n, s) VALUES (?1, ?2, ?3)", args!["C", -2, "Zz"]),
    ];
    let queries = [
        "SELECT k, n, IFNULL(s, '-') FROM t ORDER BY k",
        "SELECT SUM(n), MAX(n, 0), COUNT(*) FROM t WHERE k <> 'b' GROUP BY k ORDER BY k",
        "SELECT GROUP_CONCAT(k, '|') FROM (SELECT k FROM t ORDER BY k) AS o",
        "SELECT k FROM t INDEXED BY t_by_n WHERE s LIKE 'z%' AND INSTR(k, 'C') = 1 LIMIT -1",
        "SELECT CAST(n AS REAL), MIN(n, 1, 2) FROM t WHERE k = ?1",
    ];
    let run = |db: Db<'_>| {
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT NOT NULL, s TEXT)", args![]).unwrap();
        db.execute("CREATE INDEX t_by_n ON t (n)", args![]).unwrap();
        for (sql, a) in &statements {
            db.execute(sql, a).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        queries
            .iter()
            .map(|q| {
                let a = if q.contains("?1") { args!["a"] } else { args![] };
                db.query(q, a).unwrap_or_else(|e| panic!("{q}: {e}"))
            })
            .collect::<Vec<_>>()
    };
    let on_sqlite = run(Db::Sqlite(&sqlite));
    let on_postgres = pool.write(|c| Ok(run(Db::Postgres(c)))).unwrap();
    assert_eq!(on_sqlite, on_postgres);
    assert_eq!(on_sqlite[0].len(), 3);
}

/// Write transactions are serializable: concurrent read-then-write
/// increments all count (the conflicting ones are run again).
#[test]
fn concurrent_writes_are_retried_not_lost() {
    use crate::db::{Db, args};
    let Some(scratch) = Scratch::for_test() else { return };
    let pool = std::sync::Arc::new(PgPool::open(&scratch.url).unwrap());
    pool.write(|c| Db::Postgres(c).execute("CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)", args![]))
        .unwrap();
    pool.write(|c| Db::Postgres(c).execute("INSERT INTO counter (id, n) VALUES (1, 0)", args![])).unwrap();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    pool.write(|c| {
                        let db = Db::Postgres(c);
                        let n: i64 = db.query("SELECT n FROM counter WHERE id = 1", args![])?[0].get(0)?;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        db.execute("UPDATE counter SET n = ?1 WHERE id = 1", args![n + 1])
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let n: i64 = pool.read(|c| Db::Postgres(c).query("SELECT n FROM counter", args![])?[0].get(0)).unwrap();
    assert_eq!(n, 60);
}

/// The ported read methods give the same answers on a world built on
/// SQLite (by the methods not ported yet) and copied to PostgreSQL.
#[test]
fn ported_reads_agree_on_a_copied_world() {
    use crate::{InvoiceQuery, Window};
    use relance_domain::InvoiceStatus;
    let Some(scratch) = Scratch::for_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.db");
    let t = relance_domain::TenantId::new("agree").unwrap();
    let sqlite = crate::Store::open_sqlite(&path).unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    sqlite.generate_report_world(&t, &crate::ReportWorld { invoices: 2_000, customers: 120, as_of }).unwrap();
    sqlite.generate_ui_world(&t, &crate::UiWorld { invoices: 2_000, customers: 120, as_of }).unwrap();
    sqlite.record_event(&t, "tester", "handed_over", "C0000002", &serde_json::json!({})).unwrap();
    drop(sqlite);
    let pg = DatabaseUrl::Postgres(scratch.url.clone());
    crate::copy_database(&DatabaseUrl::Sqlite(path.clone()), &pg, &mut |_, _| {}).unwrap();
    let sqlite = crate::Store::open_sqlite(&path).unwrap();
    let postgres = crate::Store::open_postgres(&scratch.url).unwrap();

    let both = |what: &str, f: &dyn Fn(&crate::Store) -> String| {
        let (a, b) = (f(&sqlite), f(&postgres));
        assert!(a.len() > 20, "{what}: too little to compare: {a}");
        assert_eq!(a, b, "{what}");
    };
    let q = |statuses: Vec<InvoiceStatus>, customer: Option<&str>, offset: u64, after: Option<&str>| InvoiceQuery {
        statuses,
        customer_id: customer.map(str::to_string),
        limit: 25,
        offset,
        after: after.map(str::to_string),
    };
    let first = sqlite.invoices(&t, &q(vec![], None, 0, None)).unwrap();
    let after = first.next_after.clone().expect("more than one page");
    for (name, query) in [
        ("all", q(vec![], None, 0, None)),
        ("open, second page by offset", q(vec![InvoiceStatus::Open, InvoiceStatus::PartiallyPaid], None, 25, None)),
        ("one customer", q(vec![], Some(crate::LARGE_CUSTOMER), 0, None)),
        ("after a cursor", q(vec![], None, 0, Some(&after))),
    ] {
        both(name, &|s| format!("{:?}", s.invoices(&t, &query).unwrap()));
    }
    both("customers", &|s| format!("{:?}", s.customers(&t, 20).unwrap()));
    both("customers after", &|s| {
        format!("{:?}", s.customers(&t, Window { limit: 20, after: Some("C0000050".to_string()), offset: 0 }).unwrap())
    });
    both("audit", &|s| format!("{:?}", s.events(&t, 0, 200).unwrap()));
    both("counts", &|s| format!("{:?}", s.tenant_counts(&t).unwrap()));
    both("workload", &|s| format!("{:?}", s.workload(&t).unwrap()));
    both("domain events", &|s| format!("{:?}", s.events_after(&t, 0, 50).unwrap()));

    // The reports' inputs (rows in any order: the engine aggregates them).
    fn sorted<T: std::fmt::Debug>(items: Vec<T>) -> String {
        let mut lines: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
        lines.sort();
        lines.join("\n")
    }
    use relance_engine::reports::AgedGrouping;
    let (from, to) = (as_of - chrono::Days::new(400), as_of);
    let (t0, t1) = (chrono::Utc::now() - chrono::Duration::days(800), chrono::Utc::now() + chrono::Duration::days(1));
    both("open items", &|s| sorted(s.open_items(&t).unwrap()));
    both("monthly invoiced", &|s| sorted(s.monthly_invoiced(&t, from).unwrap()));
    both("aged by customer", &|s| sorted(s.aged_sums(&t, as_of, AgedGrouping::Customer).unwrap()));
    both("aged by segment", &|s| sorted(s.aged_sums(&t, as_of, AgedGrouping::Segment).unwrap()));
    both("aged totals", &|s| format!("{:?}", s.aged_totals(&t, as_of).unwrap()));
    both("largest debtors", &|s| format!("{:?}", s.largest_debtors(&t, as_of, 10).unwrap()));
    both("open by currency", &|s| format!("{:?}", s.open_by_currency(&t).unwrap()));
    let owed = sqlite.open_by_currency(&t).unwrap();
    both("invoiced back", &|s| sorted(s.invoiced_months_back(&t, as_of, from, &owed).unwrap()));
    both("overdue pieces", &|s| sorted(s.overdue_pieces(&t, from, to).unwrap()));
    both("settlements", &|s| sorted(s.settlements(&t, from, to).unwrap()));
    both("promises", &|s| format!("{:?} of many", s.promise_counts(&t, from, to + chrono::Days::new(400)).unwrap()));
    both("reminders", &|s| format!("{:?}", s.reminders_sent(&t, t0, t1).unwrap()));
    both("replies", &|s| sorted(s.replies_by_intent(&t, t0, t1).unwrap()));
    both("cash rates", &|s| format!("{:?}", s.cash_rates(&t, None).unwrap()));
    both("credits", &|s| format!("{:?}", s.credit_ids_since(&t, Some(from)).unwrap()));

    // Cash application (payments.rs, claims.rs, rates.rs).
    both("payments", &|s| format!("{:?}", s.payments_with_status(&t, &[], 40u32).unwrap()));
    both("payments in review", &|s| {
        use relance_domain::PaymentStatus::{Suggested, Unmatched};
        format!("{:?}", s.payments_with_status(&t, &[Suggested, Unmatched], Window::after(20, Some(3))).unwrap())
    });
    both("payments to match", &|s| format!("{} {:?}", "to match:".repeat(4), s.payments_to_match(&t).unwrap()));
    let payers = |p: Vec<relance_engine::matching::Payer>| {
        sorted(
            p.into_iter()
                .map(|mut p| {
                    p.ibans.sort();
                    p
                })
                .collect(),
        )
    };
    both("matching inputs", &|s| {
        let (invoices, p) = s.matching_inputs(&t).unwrap();
        format!(
            "{}
{}",
            sorted(invoices),
            payers(p)
        )
    });
    both("replay inputs", &|s| {
        let (invoices, p) = s.replay_inputs(&t).unwrap();
        format!(
            "{}
{}",
            sorted(invoices),
            payers(p)
        )
    });
    both("closed invoices", &|s| format!("{:?}", s.closed_invoices(&t, 30).unwrap()));
    both("allocations", &|s| {
        let ids = s.payments_with_status(&t, &[relance_domain::PaymentStatus::Matched], 30u32).unwrap().items;
        format!("{:?}", ids.iter().map(|p| s.allocations(&t, p.id).unwrap()).collect::<Vec<_>>())
    });
    both("write-backs", &|s| format!("{} {:?}", "write-backs:".repeat(2), s.pending_writebacks(&t, 30).unwrap()));
    both("credits in review", &|s| format!("{:?}", s.review_credits_since(&t, from).unwrap()));
    both("claims", &|s| format!("{} {:?}", "claims:".repeat(4), s.claims(&t).unwrap()));
}
