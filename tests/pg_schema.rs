//! `relance store migrate` against a real PostgreSQL (started by
//! scripts/test.sh, `TEST_PG_URL`), each run in a schema of its own: the
//! first run creates the schema and prints the version, the second applies
//! nothing. And the daemon refuses a PostgreSQL database clearly (no server
//! needed): the store is not ported yet (issue #17). The schema itself is
//! compared with SQLite's by the store's tests (crates/store/src/postgres/tests.rs).
//! And `relance store copy` takes the demo, once it has run, to PostgreSQL
//! and back unchanged.

mod common;

use common::pg_batch as sql;

use common::Deployment;

fn pg_url() -> Option<String> {
    let url = std::env::var("TEST_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        common::server_missing("PostgreSQL schema test (TEST_PG_URL)");
    }
    url
}

#[test]
fn store_migrate_creates_the_schema_then_applies_nothing() {
    let Some(base) = pg_url() else { return };
    let schema = format!("relance_cli_test_{}", std::process::id());
    sql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    let d = Deployment::new("", &[]);
    // Through a secret file, as a deployment would give it.
    d.write("db-url", format!("{url}\n"));
    let migrate = |database: &str| {
        let out = d.relance().args(["store", "migrate", "--database", database]).output().expect("run relance");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let first = migrate(&format!("file:{}", d.path("db-url").display()));
    assert!(
        first.contains("PostgreSQL schema at version 26 (26 migration(s) applied: 0001_foundation .. 0026_leases)"),
        "{first}"
    );
    let second = migrate(&url);
    assert!(second.contains("version 26 (up to date, nothing applied)"), "{second}");
    sql(&base, &format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn a_wrong_password_fails_without_printing_it() {
    let Some(base) = pg_url() else { return };
    let Some((scheme_user, rest)) = base.split_once('@') else { return };
    let user = scheme_user.rsplit_once(':').map(|(u, _)| u).unwrap_or(scheme_user);
    let wrong = format!("{user}:not-the-password-9f3@{rest}");
    let d = Deployment::new("", &[]);
    let out = d.relance().args(["store", "migrate", "--database", &wrong]).output().expect("run relance");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("password authentication failed"), "{stderr}");
    assert!(!stderr.contains("not-the-password-9f3"), "{stderr}");
}

#[test]
fn a_daemon_on_an_unreachable_postgres_server_says_so_without_the_password() {
    let d = Deployment::new(
        "[database]\nurl = \"postgres://relance:secret-pw-41@127.0.0.1:1/relance\"\n",
        &[("acme", &common::csv_tenant("acme-token-0001", "in", ""))],
    );
    std::fs::create_dir_all(d.path("in")).expect("input folder");
    let out = d.run(&["run", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("PostgreSQL") && stderr.contains("127.0.0.1"), "names the server: {stderr}");
    assert!(!stderr.contains("secret-pw-41"), "{stderr}");
}

/// Every row of `table` in `db`, sorted, each value tagged with its type.
fn rows(db: &rusqlite::Connection, table: &str) -> Vec<Vec<String>> {
    let mut st = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
    let n = st.column_count();
    let mut all: Vec<Vec<String>> = st
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(v) => format!("i{v}"),
                        rusqlite::types::ValueRef::Real(v) => format!("r{v}"),
                        rusqlite::types::ValueRef::Text(t) => format!("t{}", String::from_utf8_lossy(t)),
                        rusqlite::types::ValueRef::Blob(b) => format!("b{b:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    all.sort();
    all
}

fn table_counts(db: &rusqlite::Connection) -> Vec<(String, i64)> {
    let names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|n| {
            let c = db.query_row(&format!("SELECT COUNT(*) FROM {n}"), [], |r| r.get(0)).unwrap();
            (n, c)
        })
        .collect()
}

#[test]
fn store_copy_takes_the_demo_to_postgres_and_back_unchanged() {
    if common::sqlite_only("copying an SQLite deployment") {
        return;
    }
    let Some(base) = pg_url() else { return };
    let schema = format!("relance_copy_test_{}", std::process::id());
    sql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let pg = format!("{base}?options=-c%20search_path%3D{schema}");

    // The demo, run once (invoices, the statement applied, replies none) and
    // a reminder day planned (the outbox).
    let d = common::demo_deployment();
    for args in [&["run", "--once"][..], &["dunning", "run", "--tenant", "demo", "--day", "2026-11-23"]] {
        let out = d.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let simulate = |d: &Deployment| {
        let out = d.run(&["dunning", "simulate", "--tenant", "demo", "--from", "2026-11-23", "--to", "2026-12-31"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let plan = simulate(&d);
    let original = d.path("data/relance.db");
    let copy = |from: &str, to: &str| {
        let out = d.relance().args(["store", "copy", "--from", from, "--to", to]).output().expect("run relance");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("verified: every table's count and digest match"), "{stdout}");
        stdout
    };
    let there = copy(&format!("sqlite:{}", original.display()), &pg);
    assert!(there.contains("invoices") && there.contains("audit_events"), "{there}");
    assert!(!there.contains(":relance@"), "the password is not printed: {there}");
    let back_path = d.path("back.db");
    copy(&pg, &format!("sqlite:{}", back_path.display()));

    // Counts of every table, and every row of the tables the demo fills, compared.
    let a = rusqlite::Connection::open(&original).unwrap();
    let b = rusqlite::Connection::open(&back_path).unwrap();
    let counts = table_counts(&a);
    assert_eq!(counts, table_counts(&b));
    let filled: Vec<&String> = counts.iter().filter(|(_, c)| *c > 0).map(|(n, _)| n).collect();
    for t in ["invoices", "customers", "payments", "allocations", "audit_events", "outbox", "domain_events"] {
        assert!(filled.contains(&&t.to_string()), "the demo fills {t}: {counts:?}");
        assert_eq!(rows(&a, t), rows(&b, t), "{t}");
    }

    // A second copy into the same PostgreSQL schema is refused.
    let out = d
        .relance()
        .args(["store", "copy", "--from", &format!("sqlite:{}", original.display()), "--to", &pg])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&out.stderr));

    // The copied-back database is a working deployment: the same plan.
    drop((a, b));
    std::fs::rename(&original, d.path("original.db")).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(d.path(&format!("data/relance.db{suffix}")));
    }
    std::fs::rename(&back_path, &original).unwrap();
    assert_eq!(simulate(&d), plan);
    sql(&base, &format!("DROP SCHEMA {schema} CASCADE"));
}
