//! The SQL invoice source against a real PostgreSQL (started by
//! scripts/test.sh, `TEST_PG_URL`): a first full sync, an incremental one,
//! an invoice deleted at the source closed by the next full pass, bad rows
//! quarantined, and a refused login reported clearly.

mod common;

use common::pg_batch as sql;

use common::Deployment;

fn pg_url() -> Option<String> {
    let url = std::env::var("TEST_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        common::server_missing("SQL test (TEST_PG_URL)");
    }
    url
}

/// A database of its own for one test.
fn fresh_database(url: &str, name: &str) -> String {
    // one statement per call: CREATE DATABASE cannot run inside the implicit transaction of a batch
    sql(url, &format!("DROP DATABASE IF EXISTS {name}"));
    sql(url, &format!("CREATE DATABASE {name}"));
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

const QUERY: &str = "SELECT f.num AS invoice_number, c.code AS customer_id, c.nom AS customer_name, c.email AS customer_email, f.emise AS issue_date, f.echeance AS due_date, f.devise AS currency, f.montant AS amount_total, f.reste AS amount_open, f.etat AS status, f.maj AS updated_at FROM factures f JOIN clients c ON c.code = f.client";

fn tenant(db: &str, full_every: &str) -> String {
    let url = db.replace("relance:relance@", "relance@");
    format!(
        "[api]\ntokens = [\"sql-token-0001\"]\n[connectors.erp_db]\nkind = \"sql_invoices\"\nurl = \"{url}\"\npassword = \"env:TEST_SQL_PASSWORD\"\ntls = \"disable\"\nquery = \"{QUERY}\"\nfull_every = \"{full_every}\"\nbatch_size = 100\n[connectors.erp_db.retry]\nattempts = 1\n"
    )
}

fn run(d: &Deployment) -> (bool, String) {
    let out = d
        .relance()
        .args(["run", "--once", "--config"])
        .arg(d.config())
        .env("TEST_SQL_PASSWORD", "relance")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn initial_incremental_and_full_syncs_from_postgresql() {
    let Some(url) = pg_url() else { return };
    let db = fresh_database(&url, "relance_it_sql_sync");
    sql(
        &db,
        "CREATE TABLE clients (code text PRIMARY KEY, nom text, email text);
         CREATE TABLE factures (num text PRIMARY KEY, client text REFERENCES clients, emise date, echeance date,
                                devise char(3), montant numeric(14,2), reste numeric(14,2), etat text, maj timestamptz NOT NULL);
         CREATE INDEX factures_maj ON factures (maj, num);
         INSERT INTO clients SELECT 'C' || i, 'Client ' || i, 'c' || i || '@x.example' FROM generate_series(1, 20) i;
         INSERT INTO factures SELECT 'F-' || lpad(i::text, 4, '0'), 'C' || (1 + i % 20), DATE '2026-10-01', DATE '2026-11-01' + i % 30,
                'EUR', 100 + i + 0.25, 100 + i + 0.25, 'open', TIMESTAMPTZ '2026-11-20 08:00:00+00' + i * interval '1 minute'
           FROM generate_series(1, 250) i;
         INSERT INTO factures VALUES ('F-BAD1', 'C1', '2026-10-01', '2026-11-01', 'EUR', 12.00, -12.00, 'open', '2026-11-20 12:00:00+00'),
                                     ('F-BAD2', 'C2', '2026-10-01', '2026-11-01', 'EUX', 12.00, 12.00, 'open', '2026-11-20 12:01:00+00');",
    );
    let d = Deployment::new("", &[("acme", &tenant(&db, "1h"))]);
    let (ok, text) = run(&d);
    assert!(ok, "{text}");
    assert!(text.contains("acme/erp_db: ok (250 items, 2 quarantined, 3 units)"), "{text}");
    let (count, open): (i64, i64) =
        d.db().query_row("SELECT count(*), sum(open_minor) FROM invoices", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let want: i64 = (1..=250).map(|i| (100 + i) * 100 + 25).sum();
    assert_eq!((count, open), (250, want), "exact amounts from numeric columns");
    let reasons: Vec<String> = d
        .db()
        .prepare("SELECT reason FROM quarantine ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reasons, ["negative amount_open `-12.00` of an invoice", "unknown currency `EUX`"]);

    // Incremental: one invoice paid, one new; only those two are read.
    sql(
        &db,
        "UPDATE factures SET reste = 0, etat = 'paid', maj = '2026-11-21 09:00:00+00' WHERE num = 'F-0001';
         INSERT INTO factures VALUES ('F-0300', 'C3', '2026-11-01', '2026-12-01', 'EUR', 40.00, 40.00, 'open', '2026-11-21 09:05:00+00');",
    );
    let (ok, text) = run(&d);
    assert!(ok && text.contains("acme/erp_db: ok (2 items, 0 quarantined, 1 units)"), "{text}");
    let status: String =
        d.db().query_row("SELECT status FROM invoices WHERE number='F-0001'", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "paid");
    let (ok, text) = run(&d);
    assert!(ok && text.contains("acme/erp_db: ok (0 items"), "nothing new: {text}");

    // Deleted at the source: the next full pass closes it (never deletes it).
    sql(&db, "DELETE FROM factures WHERE num = 'F-0002'");
    d.write("tenants/acme.toml", tenant(&db, "0s"));
    let (ok, text) = run(&d);
    assert!(ok && text.contains("acme/erp_db: ok (250 items, 2 quarantined"), "{text}");
    let (status, open): (String, i64) = d
        .db()
        .query_row("SELECT status, open_minor FROM invoices WHERE number='F-0002'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), open), ("closed", 0));
    let open_count: i64 =
        d.db().query_row("SELECT count(*) FROM invoices WHERE status='open'", [], |r| r.get(0)).unwrap();
    assert_eq!(open_count, 249, "F-0001 paid, F-0002 closed, F-0300 added");
}

#[test]
fn a_refused_login_and_a_broken_query_are_clear_errors() {
    let Some(url) = pg_url() else { return };
    let db = fresh_database(&url, "relance_it_sql_errors");
    sql(&db, "CREATE TABLE factures (num text)");
    let d = Deployment::new("", &[("acme", &tenant(&db, "1h"))]);
    let out = d
        .relance()
        .args(["run", "--once", "--config"])
        .arg(d.config())
        .env("TEST_SQL_PASSWORD", "wrong")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("acme/erp_db: FAILED") && text.contains("password authentication failed"), "{text}");
    let (ok, text) = run(&d);
    assert!(!ok);
    assert!(text.contains("acme/erp_db: FAILED: the query: relation \"clients\" does not exist"), "{text}");
}
