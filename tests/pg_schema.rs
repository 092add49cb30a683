//! `relance store migrate` against a real PostgreSQL (started by
//! scripts/test.sh, `TEST_PG_URL`), each run in a schema of its own: the
//! first run creates the schema and prints the version, the second applies
//! nothing. And the daemon refuses a PostgreSQL database clearly (no server
//! needed): the store is not ported yet (issue #17). The schema itself is
//! compared with SQLite's by the store's tests (crates/store/src/postgres/tests.rs).

mod common;

use common::Deployment;

fn pg_url() -> Option<String> {
    let url = std::env::var("TEST_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        common::server_missing("PostgreSQL schema test (TEST_PG_URL)");
    }
    url
}

/// Runs SQL on `url`.
fn sql(url: &str, statements: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
        let task = tokio::spawn(conn);
        client.batch_execute(statements).await.unwrap_or_else(|e| panic!("{statements}: {e} {:?}", e.as_db_error()));
        drop(client);
        let _ = task.await;
    });
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
        first
            .contains("PostgreSQL schema at version 25 (25 migration(s) applied: 0001_foundation .. 0025_drop_invoices_by_customer)"),
        "{first}"
    );
    let second = migrate(&url);
    assert!(second.contains("version 25 (up to date, nothing applied)"), "{second}");
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
fn the_daemon_refuses_a_postgres_database_naming_the_issue() {
    let d = Deployment::new(
        "[database]\nurl = \"postgres://relance@127.0.0.1:1/relance\"\n",
        &[("acme", &common::csv_tenant("acme-token-0001", "in", ""))],
    );
    std::fs::create_dir_all(d.path("in")).expect("input folder");
    let out = d.run(&["run", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("the PostgreSQL store is not complete yet (issue #17)"), "{stderr}");
}
