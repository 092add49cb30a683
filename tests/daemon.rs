//! The daemon end to end: import on start, the HTTP API with per-tenant
//! auth, watch mode, metrics, graceful shutdown, and `run --once` failures.

mod common;

use std::time::Duration;

use common::{Deployment, csv_rows, csv_tenant, wait_for};

fn two_tenants() -> Deployment {
    let d = Deployment::new(
        "",
        &[
            (
                "alpha",
                // The second export below closes 28 of 29 invoices on purpose: no hold.
                &csv_tenant(
                    "alpha-token-1",
                    "in/alpha",
                    "mode = \"full\"\nschedule = \"watch 1m\"\nmax_close_share = 1.0\n",
                ),
            ),
            ("beta", &csv_tenant("beta-token-1", "in/beta", "schedule = \"every 1h\"\n")),
        ],
    );
    d.write("in/alpha/export.csv", csv_rows(30, &[7]));
    d.write("in/beta/export.csv", csv_rows(4, &[]));
    d
}

#[test]
fn the_api_serves_imported_data_with_per_tenant_auth() {
    let d = two_tenants();
    let mut daemon = d.daemon();
    let tok = Some("alpha-token-1");
    wait_for(Duration::from_secs(20), "alpha import", || {
        daemon.get_json("/api/v1/tenants/alpha/invoices?status=open", tok).1["total"] == 29
    });
    let (status, page) = daemon.get_json("/api/v1/tenants/alpha/invoices?status=open&limit=5", tok);
    assert_eq!(status, 200);
    let first = &page["items"][0];
    assert_eq!(first["currency"], "EUR");
    assert!(first["amount_open"].as_str().unwrap().ends_with(".50"), "amounts are decimal strings: {first}");
    assert_eq!(page["items"].as_array().unwrap().len(), 5);

    // Another tenant's token: 403. No token or an unknown one: 401. Same JSON error shape.
    let (s, e) = daemon.get_json("/api/v1/tenants/alpha/invoices?status=open", Some("beta-token-1"));
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    let (s, e) = daemon.get_json("/api/v1/tenants/alpha/invoices", None);
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (s, _) = daemon.get_json("/api/v1/tenants/alpha/invoices", Some("not-a-token"));
    assert_eq!(s, 401);
    let (s, e) = daemon.get_json("/api/v1/tenants/alpha/invoices?status=bogus", tok);
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, e) = daemon.get_json("/nope", None);
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));

    // The bad row is in quarantine with its line and column; the rest is imported.
    let (_, q) = daemon.get_json("/api/v1/tenants/alpha/quarantine", tok);
    assert_eq!(q["total"], 1, "{q}");
    assert_eq!(q["items"][0]["line"], 9);
    assert_eq!(q["items"][0]["column"], "due_date");
    assert!(q["items"][0]["item"].as_str().unwrap().ends_with("in/alpha/export.csv"));

    // Lists by status (promises, tasks, outbox): empty here, same auth rules.
    for list in ["promises", "tasks", "outbox"] {
        let (s, body) = daemon.get_json(&format!("/api/v1/tenants/alpha/{list}?status=pending&limit=5"), tok);
        assert_eq!((s, body["items"].as_array().map(Vec::len)), (200, Some(0)), "{list}: {body}");
        let (s, _) = daemon.get_json(&format!("/api/v1/tenants/alpha/{list}"), Some("beta-token-1"));
        assert_eq!(s, 403, "{list}");
    }

    let (_, customers) = daemon.get_json("/api/v1/tenants/alpha/customers", tok);
    assert_eq!(customers["total"], 29);
    let (_, events) = daemon.get_json("/api/v1/tenants/alpha/events", tok);
    let done =
        events["items"].as_array().unwrap().iter().find(|e| e["kind"] == "import_completed").expect("import event");
    assert_eq!((done["data"]["created"].as_u64(), done["data"]["quarantined"].as_u64()), (Some(29), Some(1)), "{done}");

    let (s, metrics) = daemon.get("/metrics", None);
    assert_eq!(s, 200);
    assert!(
        metrics
            .contains("relance_connector_items_total{tenant=\"alpha\",connector=\"erp\",role=\"invoice_source\"} 29"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "relance_connector_quarantined_total{tenant=\"alpha\",connector=\"erp\",role=\"invoice_source\"} 1"
        )
    );
    assert!(metrics.contains("relance_invoices{tenant=\"beta\",status=\"open\"} 4"), "{metrics}");
    // This daemon, alone on its SQLite database, holds every piece of work's lease (issue #17).
    assert!(metrics.contains("relance_daemon_info{daemon=\""), "{metrics}");
    assert!(metrics.contains("relance_daemons_alive 1"), "{metrics}");
    assert!(metrics.contains("relance_lease_held{lease=\"tenant/alpha/connector/erp\"} 1"), "{metrics}");
    assert!(metrics.contains("relance_lease_held{lease=\"tenant/alpha/cash\"} 1"), "{metrics}");
    let (s, cluster) = daemon.get_json("/api/v1/tenants/alpha/daemons", tok);
    assert_eq!(s, 200, "{cluster}");
    let me = cluster["daemon"].as_str().expect("the daemon's id").to_string();
    assert_eq!(cluster["daemons"].as_array().map(Vec::len), Some(1), "{cluster}");
    let leases = cluster["leases"].as_array().expect("leases");
    assert!(
        leases.iter().all(|l| l["holder"] == me.as_str() && l["name"].as_str().unwrap().starts_with("tenant/alpha/")),
        "{cluster}"
    );
    assert!(leases.iter().any(|l| l["name"] == "tenant/alpha/connector/erp"), "{cluster}");
    assert_eq!(daemon.get_json("/api/v1/tenants/alpha/daemons", Some("beta-token-1")).0, 403);

    // A new full export dropped in the watched folder is picked up without waiting for the poll.
    let mut next = String::from(common::HEADER);
    next.push_str(csv_rows(30, &[]).lines().nth(1).unwrap());
    next.push('\n');
    d.write("in/alpha/export-2.csv", next);
    wait_for(Duration::from_secs(15), "watched file import", || {
        daemon.get_json("/api/v1/tenants/alpha/invoices?status=open", tok).1["total"] == 1
    });
    let (_, closed) = daemon.get_json("/api/v1/tenants/alpha/invoices?status=closed", tok);
    assert_eq!(closed["total"], 28, "missing from the full export: closed, not deleted");

    let status = daemon.terminate(Duration::from_secs(20)).expect("daemon stops on SIGTERM");
    assert!(status.success(), "graceful exit 0, got {status}: {}", daemon.log());
    assert!(daemon.log().contains("stopped"));
}

#[test]
fn run_once_imports_then_exits() {
    let d = two_tenants();
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("alpha/erp: ok (29 items, 1 quarantined, 1 units)"), "{stdout}");
    assert!(stdout.contains("beta/erp: ok (4 items, 0 quarantined, 1 units)"), "{stdout}");
    let n: i64 = d.db().query_row("SELECT count(*) FROM invoices", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 33);
}

#[test]
fn a_second_daemon_on_the_same_database_refuses_to_start_naming_the_first() {
    if common::sqlite_only("the SQLite daemon lock") {
        return; // on PostgreSQL, daemons share the work (tests/cluster.rs)
    }
    let d = two_tenants();
    let first = d.daemon();
    // Another port, same data folder.
    let out = d
        .relance()
        .args(["run", "--config"])
        .arg(d.config())
        .env("RELANCE__LISTEN", format!("127.0.0.1:{}", common::free_port()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second daemon must not run: {err}");
    assert!(err.contains(&format!("another Relance daemon (pid {}) is using", first.child.id())), "{err}");
    assert!(err.contains("relance.db"), "names the database: {err}");
    assert_eq!(first.get("/healthz", None).0, 200, "the first one goes on");
    drop(first);
    // Once the first is gone (even killed), the lock is free.
    let mut again = d.daemon();
    assert!(again.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()));
}

#[test]
fn a_data_folder_that_cannot_be_created_is_reported_once_with_the_reason() {
    let d = Deployment::new("", &[("alpha", &csv_tenant("alpha-token-1", "in/alpha", ""))]);
    d.write("in/alpha/export.csv", csv_rows(2, &[]));
    // `data` is a regular file, so `data/relance.db` cannot be created under it.
    d.write("data", "not a folder");
    let out = d.run(&["run", "--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("(os error").count(), 1, "the OS's reason, once: {err}");
    assert!(err.contains("File exists") || err.contains("Not a directory"), "{err}");
    assert!(err.contains("/data"), "names the folder: {err}");
    assert_eq!(err.lines().filter(|l| l.contains("error")).count(), 1, "one line: {err}");
}

#[test]
fn a_failing_connector_does_not_delay_the_others() {
    // The ERP database refuses connections (a closed port): its retries wait 30 s, 60 s, …
    let closed = common::free_port();
    let tenant = format!(
        "[api]\ntokens = [\"acme-token-1\"]\n\
         [connectors.erp]\nkind = \"sql_invoices\"\nurl = \"postgres://relance@127.0.0.1:{closed}/relance\"\n\
         password = \"x\"\ntls = \"disable\"\nquery = \"SELECT 1\"\n\
         [connectors.erp.retry]\nattempts = 6\ninitial = \"30s\"\n\
         [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n"
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let daemon = d.daemon();
    // Dropped after the start: the bank connector's watcher picks it up at once.
    d.write("bank/releve.csv", "Date;Libellé;Montant;Devise\n03/12/2026;VIR CLIENT DEUX;75,50;EUR\n");
    let tok = Some("acme-token-1");
    wait_for(Duration::from_secs(10), "the statement imported while the ERP is down", || {
        daemon.get_json("/api/v1/tenants/acme/payments", tok).1["total"] == 1
    });
    let log = daemon.log();
    assert!(log.contains("run failed"), "the ERP connector did fail: {log}");
}

#[test]
fn invoices_and_customers_page_by_cursor_to_the_end_without_gaps() {
    let d = two_tenants();
    let daemon = d.daemon();
    let tok = Some("alpha-token-1");
    wait_for(Duration::from_secs(20), "alpha import", || {
        daemon.get_json("/api/v1/tenants/alpha/invoices", tok).1["total"] == 29
    });
    let (_, whole) = daemon.get_json("/api/v1/tenants/alpha/invoices?limit=1000", tok);
    let key = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
    let all: Vec<String> = whole["items"].as_array().unwrap().iter().map(|i| key(i, "number")).collect();
    assert_eq!(all.len(), 29);
    for list in ["invoices", "customers"] {
        let id = if list == "invoices" { "number" } else { "id" };
        let (mut seen, mut after, mut pages) = (Vec::new(), String::new(), 0);
        loop {
            let q = if after.is_empty() { String::new() } else { format!("&after={after}") };
            let (status, page) = daemon.get_json(&format!("/api/v1/tenants/alpha/{list}?limit=4{q}"), tok);
            assert_eq!(status, 200, "{page}");
            pages += 1;
            seen.extend(page["items"].as_array().unwrap().iter().map(|i| key(i, id)));
            match page["next_after"].as_str() {
                Some(next) => after = next.to_string(),
                None => break,
            }
            assert!(pages < 100);
        }
        if list == "invoices" {
            assert_eq!(seen, all, "every invoice once, in the list's order");
        } else {
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!((sorted.len(), seen.len()), (29, 29), "every customer once");
        }
    }
}
