//! Connector plugins, end to end: the example plugin (`plugins/examples/
//! rest_invoices`, a cdylib built with the workspace) is loaded from a
//! deployment's `plugins_dir` through tenant configuration and syncs invoices
//! from a REST API served by the test; a plugin built for another ABI is
//! refused with its file named; plugins that panic, answer garbage or hang
//! fail their own connector only.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::Deployment;
use serde_json::{Value, json};

/// The built plugin library `name` (building it if a plain `cargo test` did not).
fn plugin_lib(crate_name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_relance")).parent().unwrap().to_path_buf();
    let file = dir.join(format!("lib{}.so", crate_name.replace('-', "_")));
    if !file.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", crate_name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build {crate_name}");
    }
    assert!(file.exists(), "{} missing", file.display());
    file
}

fn with_plugins(libs: &[&str], tenants: &[(&str, &str)]) -> Deployment {
    let d = Deployment::new("plugins_dir = \"plugins\"\n", tenants);
    std::fs::create_dir_all(d.path("plugins")).unwrap();
    for l in libs {
        let src = plugin_lib(l);
        std::fs::copy(&src, d.path("plugins").join(src.file_name().unwrap())).unwrap();
    }
    d
}

/// The ERP: invoices with `updated_at`, served `per_page` at a time, newest changes last.
fn erp(invoices: Arc<Mutex<Vec<Value>>>) -> (u16, Arc<Mutex<Vec<common::http::Request>>>) {
    common::http::serve(Box::new(move |r| {
        if r.headers.get("authorization").map(String::as_str) != Some("Bearer erp-token") {
            return (401, "{\"error\":\"unauthorized\"}".into());
        }
        if r.path != "/api/invoices" {
            return (404, "{}".into());
        }
        let since = r.query.get("updated_since").cloned().unwrap_or_default();
        let page: usize = r.query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let per: usize = r.query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(100);
        let mut all: Vec<Value> = invoices
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i["updated_at"].as_str().unwrap() > since.as_str())
            .cloned()
            .collect();
        all.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
        let pages = all.len().div_ceil(per).max(1);
        let data: Vec<Value> = all.into_iter().skip((page - 1) * per).take(per).collect();
        (200, json!({ "data": data, "page": page, "total_pages": pages }).to_string())
    }))
}

fn invoice(number: Value, customer: &str, total: &str, balance: &str, updated: &str) -> Value {
    json!({
        "number": number, "customer": { "id": customer, "name": format!("Client {customer}"), "email": format!("{}@x.example", customer.to_lowercase()) },
        "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
        "total": total, "balance": balance, "status": "open", "updated_at": updated,
    })
}

#[test]
fn the_example_plugin_syncs_invoices_from_a_rest_api() {
    let data = Arc::new(Mutex::new(vec![
        invoice(json!("INV-1"), "C1", "100.00", "100.00", "2026-11-20T10:00:00Z"),
        invoice(json!("INV-2"), "C1", "250.50", "250.50", "2026-11-20T11:00:00Z"),
        invoice(json!(null), "C2", "10.00", "10.00", "2026-11-20T12:00:00Z"),
        invoice(json!("INV-4"), "C2", "40.00", "-40.00", "2026-11-20T13:00:00Z"),
        invoice(json!("INV-5"), "C3", "75.00", "75.00", "2026-11-20T14:00:00Z"),
    ]));
    let (port, seen) = erp(data.clone());
    let tenant = format!(
        "[api]\ntokens = [\"plug-token-0001\"]\n[connectors.erp]\nkind = \"plugin:rest_invoices\"\nurl = \"http://127.0.0.1:{port}/api\"\ntoken = \"env:TEST_ERP_TOKEN\"\nper_page = 2\n"
    );
    let d = with_plugins(&["relance-plugin-rest-invoices"], &[("acme", &tenant)]);
    let run = || {
        let out = d
            .relance()
            .args(["run", "--once", "--config"])
            .arg(d.config())
            .env("TEST_ERP_TOKEN", "erp-token")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run();
    assert!(first.contains("acme/erp: ok (3 items, 2 quarantined, 3 units)"), "{first}");
    let invoices: Vec<(String, i64)> = d
        .db()
        .prepare("SELECT number, open_minor FROM invoices ORDER BY number")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(invoices, [("INV-1".into(), 10_000), ("INV-2".into(), 25_050), ("INV-5".into(), 7_500)]);
    let reasons: Vec<String> = d
        .db()
        .prepare("SELECT reason FROM quarantine ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reasons, ["no invoice number", "negative amount_open `-40.00` of an invoice"]);
    let pages: Vec<usize> = seen.lock().unwrap().iter().map(|r| r.query["page"].parse().unwrap()).collect();
    assert_eq!(pages, [1, 2, 3], "three pages of two");

    // Changes on the ERP side: INV-1 paid, a new INV-6. Only what changed since the newest
    // `updated_at` seen is asked for.
    {
        let mut d = data.lock().unwrap();
        d[0] = invoice(json!("INV-1"), "C1", "100.00", "0.00", "2026-11-21T09:00:00Z");
        d[0]["status"] = json!("paid");
        d.push(invoice(json!("INV-6"), "C3", "12.00", "12.00", "2026-11-21T09:30:00Z"));
    }
    seen.lock().unwrap().clear();
    let second = run();
    assert!(second.contains("acme/erp: ok (2 items, 0 quarantined, 1 units)"), "{second}");
    let asked = seen.lock().unwrap()[0].query.get("updated_since").cloned();
    assert_eq!(asked.as_deref(), Some("2026-11-20T14:00:00Z"));
    let (status, open): (String, i64) = d
        .db()
        .query_row("SELECT status, open_minor FROM invoices WHERE number='INV-1'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), open), ("paid", 0));
    let count: i64 = d.db().query_row("SELECT count(*) FROM invoices", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 4);
    // A third run finds nothing new.
    assert!(run().contains("acme/erp: ok (0 items, 0 quarantined, 1 units)"));
}

#[test]
fn a_plugin_for_another_abi_or_an_unknown_plugin_is_refused() {
    let tenant = "[connectors.erp]\nkind = \"plugin:future_abi\"\n";
    let d = with_plugins(&["relance-plugin-future-abi"], &[("acme", tenant)]);
    let out = d.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("librelance_plugin_future_abi.so"), "names the file: {err}");
    assert!(err.contains("plugin ABI mismatch: the plugin's table is ABI 2, this Relance speaks ABI 1"), "{err}");
    assert!(err.contains("no plugin `future_abi` is loaded"), "{err}");
    // A library that is not a plugin at all.
    std::fs::write(d.path("plugins/libnot_a_plugin.so"), b"\x7fELF garbage").unwrap();
    let err = String::from_utf8_lossy(&d.run(&["check-config"]).stderr).to_string();
    assert!(err.contains("libnot_a_plugin.so") && err.contains("cannot load"), "{err}");
}

#[test]
fn panicking_garbage_and_hanging_plugins_fail_their_connector_only() {
    let plugin = |mode: &str, extra: &str| {
        format!(
            "[connectors.erp]\nkind = \"plugin:misbehaving\"\nrole = \"invoice_source\"\nmode = \"{mode}\"\n{extra}[connectors.erp.retry]\nattempts = 1\n"
        )
    };
    let tenants = [
        ("ok", plugin("ok", "")),
        ("panics", plugin("panic", "")),
        ("garbage", plugin("garbage", "")),
        ("hangs", plugin("hang", "timeout = \"1s\"\n")),
        ("create", plugin("panic_in_create", "")),
    ];
    let tenants: Vec<(&str, &str)> = tenants.iter().map(|(n, b)| (*n, b.as_str())).collect();
    let d = with_plugins(&["relance-plugin-misbehaving"], &tenants);
    let started = std::time::Instant::now();
    let out = d.run(&["run", "--once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "some connectors failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "a hung plugin does not hold the process");
    assert!(text.contains("ok/erp: ok (1 items"), "{text}");
    assert!(
        text.contains(
            "panics/erp: FAILED: plugin misbehaving panicked in `sync`: panic: misbehaving plugin: panic in sync"
        ),
        "{text}"
    );
    assert!(text.contains("garbage/erp: FAILED: plugin misbehaving: `sync` returned malformed output"), "{text}");
    assert!(text.contains("hangs/erp: FAILED: plugin misbehaving: `sync` did not answer within 1s"), "{text}");
    assert!(text.contains("create/erp: FAILED: plugin misbehaving panicked in `sync`: panic in create: misbehaving plugin: panic in create"), "{text}");
    let n: i64 = d.db().query_row("SELECT count(*) FROM invoices WHERE tenant_id='ok'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);

    // The daemon with the same plugins keeps serving; each failure is reported on its own connector.
    let daemon = d.daemon();
    common::wait_for(std::time::Duration::from_secs(20), "the failures to be recorded", || {
        let (_, m) = daemon.get("/metrics", None);
        ["panics", "garbage", "create"]
            .iter()
            .all(|t| m.contains(&format!("relance_connector_errors_total{{tenant=\"{t}\",connector=\"erp\",")))
    });
    assert_eq!(daemon.get("/healthz", None).0, 200);
}

#[test]
fn plugins_as_outbound_channel_and_erp_write_back() {
    let dir = tempfile::tempdir().unwrap();
    let (sent_log, pushed_log) = (dir.path().join("sent.jsonl"), dir.path().join("pushed.jsonl"));
    let tenant = r#"scenarios = ["one_step"]
[connectors.erp]
kind = "csv_invoices"
path = "../invoices"
settle = "0s"
[connectors.bank]
kind = "bank_statements"
path = "../bank"
[connectors.mailer]
kind = "plugin:misbehaving"
role = "outbound_channel"
channel = "email"
log = "SENT_LOG"
[connectors.erp_back]
kind = "plugin:misbehaving"
role = "erp_write_back"
log = "PUSHED_LOG"
"#
    .replace("SENT_LOG", &sent_log.display().to_string())
    .replace("PUSHED_LOG", &pushed_log.display().to_string());
    let d = with_plugins(&["relance-plugin-misbehaving"], &[("acme", &tenant)]);
    d.write_config("data_dir = \"data\"\nplugins_dir = \"plugins\"\nscenarios_dir = \"scenarios\"\n");
    d.write(
        "scenarios/one_step.toml",
        "[[steps]]\nid = \"first\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n",
    );
    d.write(
        "invoices/open.csv",
        "invoice_number,customer_id,customer_name,customer_email,due_date,currency,amount_total,amount_open\n\
         FAC-2026-0001,C1,Client Un,un@x.example,2026-12-01,EUR,300.00,300.00\nFAC-2026-0002,C2,Client Deux,deux@x.example,2026-12-01,EUR,75.50,75.50\n",
    );
    d.write(
        "bank/releve.csv",
        "Date;Libellé;Montant;Devise\n03/12/2026;VIR CLIENT DEUX FACTURE FAC-2026-0002;75,50;EUR\n",
    );
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let out = d.run(&["run", "--once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("acme/erp_back: ok (1 items"), "{text}");
    let pushed: Value = serde_json::from_str(std::fs::read_to_string(&pushed_log).unwrap().trim()).unwrap();
    assert_eq!(
        (pushed["invoice"].as_str(), pushed["amount"].as_str(), pushed["reversal"].as_bool()),
        (Some("FAC-2026-0002"), Some("75.50"), Some(false))
    );

    // FAC-2026-0001 is still due: its reminder goes through the plugin channel.
    let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", "2026-12-03"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = d.run(&["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T10:00"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 sent, 0 to retry, 0 failed"), "{text}");
    let sent: Value = serde_json::from_str(std::fs::read_to_string(&sent_log).unwrap().trim()).unwrap();
    assert_eq!(sent["recipients"], json!(["un@x.example"]));
    assert_eq!(sent["invoices"], json!(["FAC-2026-0001"]));
    assert!(sent["html"].as_str().unwrap().contains("<li>"), "the HTML part is built for email channels");
    let reference: String = d.db().query_row("SELECT reference FROM outbox", [], |r| r.get(0)).unwrap();
    assert_eq!(reference, format!("plugin:{}", sent["id"].as_str().unwrap()));
}

/// The ABI promises that calls on one instance are never concurrent: the
/// delivery workers (8 by default) share one plugin channel, so the host must
/// serialise them. The `exclusive` mode fails any call that overlaps another.
#[test]
fn a_plugin_instance_is_never_called_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let sent_log = dir.path().join("sent.jsonl");
    let tenant = r#"scenarios = ["one_step"]
[connectors.erp]
kind = "csv_invoices"
path = "../invoices"
settle = "0s"
[connectors.mailer]
kind = "plugin:misbehaving"
role = "outbound_channel"
channel = "email"
mode = "exclusive"
log = "SENT_LOG"
"#
    .replace("SENT_LOG", &sent_log.display().to_string());
    let d = with_plugins(&["relance-plugin-misbehaving"], &[("acme", &tenant)]);
    d.write_config("data_dir = \"data\"\nplugins_dir = \"plugins\"\nscenarios_dir = \"scenarios\"\n");
    d.write(
        "scenarios/one_step.toml",
        "[[steps]]\nid = \"first\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n",
    );
    let mut csv = String::from(
        "invoice_number,customer_id,customer_name,customer_email,due_date,currency,amount_total,amount_open\n",
    );
    for i in 1..=12 {
        csv.push_str(&format!("FAC-2026-{i:04},C{i},Client {i},c{i}@x.example,2026-12-01,EUR,100.00,100.00\n"));
    }
    d.write("invoices/open.csv", &csv);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", "2026-12-03"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = d.run(&["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T10:00"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("12 sent, 0 to retry, 0 failed"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&sent_log).unwrap().lines().count(), 12);
}
