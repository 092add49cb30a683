//! The Odoo connectors against a fake Odoo run by the test: it answers
//! `/jsonrpc` with the documented shapes (`common.authenticate`,
//! `object.execute_kw` on `account.move`, `res.partner`, `account.payment`,
//! `account.payment.register`), evaluates domains in Odoo's polish notation,
//! and registers payments like the wizard does.
//!
//! Checked: sync of invoices and partners, incremental by `write_date`, a
//! malformed invoice quarantined, a payment applied by Relance (from a bank
//! statement) registered once in Odoo and seen paid at the next sync, and
//! refused credentials reported clearly.

mod common;

use std::sync::{Arc, Mutex};

use common::Deployment;
use serde_json::{Value, json};

#[derive(Default)]
struct FakeOdoo {
    invoices: Vec<Value>,
    partners: Vec<Value>,
    payments: Vec<Value>,
    wizards: Vec<(Value, Value)>,
    notes: Vec<(i64, String)>,
    clock: u32,
}

impl FakeOdoo {
    fn tick(&mut self) -> String {
        self.clock += 1;
        format!("2026-11-22 10:{:02}:00", self.clock)
    }
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Odoo domain evaluation: polish-notation `&`, `|`, `!` over `[field, op, value]` terms.
fn matches(record: &Value, domain: &[Value]) -> bool {
    let mut stack: Vec<bool> = Vec::new();
    for term in domain.iter().rev() {
        match term.as_str() {
            Some("&") => {
                let (a, b) = (stack.pop().unwrap(), stack.pop().unwrap());
                stack.push(a && b);
            }
            Some("|") => {
                let (a, b) = (stack.pop().unwrap(), stack.pop().unwrap());
                stack.push(a || b);
            }
            Some("!") => {
                let a = stack.pop().unwrap();
                stack.push(!a);
            }
            _ => {
                let (field, op, value) = (term[0].as_str().unwrap(), term[1].as_str().unwrap(), &term[2]);
                let have = &record[field];
                stack.push(match op {
                    "=" => have == value,
                    "!=" => have != value,
                    ">" => cmp(have, value) == Some(std::cmp::Ordering::Greater),
                    "<" => cmp(have, value) == Some(std::cmp::Ordering::Less),
                    "in" => value.as_array().unwrap().contains(have),
                    other => panic!("operator {other} not faked"),
                });
            }
        }
    }
    stack.into_iter().all(|b| b)
}

/// The requested fields, and `id` always (as Odoo's `read` and `search_read` do).
fn project(record: &Value, fields: &Value) -> Value {
    match fields.as_array() {
        Some(f) => Value::Object(
            f.iter().filter_map(|k| k.as_str()).chain(["id"]).map(|k| (k.to_string(), record[k].clone())).collect(),
        ),
        None => record.clone(),
    }
}

fn error(message: &str) -> Value {
    json!({ "code": 200, "message": "Odoo Server Error", "data": { "name": "odoo.exceptions.AccessDenied", "message": message } })
}

fn serve(odoo: Arc<Mutex<FakeOdoo>>) -> (u16, Arc<Mutex<Vec<common::http::Request>>>) {
    common::http::serve(Box::new(move |r| {
        if r.method != "POST" || r.path != "/jsonrpc" {
            return (404, "{}".into());
        }
        let body = r.json();
        let (service, method, args) = (&body["params"]["service"], &body["params"]["method"], &body["params"]["args"]);
        let id = body["id"].clone();
        let reply = |result: Value| (200, json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string());
        let fail = |m: &str| (200, json!({ "jsonrpc": "2.0", "id": body["id"], "error": error(m) }).to_string());
        let authorized = |db: &Value, key: &Value| db == "acme" && key == "odoo-key";
        if service == "common" && method == "authenticate" {
            let ok = authorized(&args[0], &args[2]) && args[1] == "relance@acme.test";
            return reply(if ok { json!(2) } else { json!(false) });
        }
        if service != "object" || method != "execute_kw" {
            return fail("unknown service");
        }
        if !authorized(&args[0], &args[2]) || args[1] != 2 {
            return fail("Access Denied");
        }
        let (model, call, params, kwargs) = (args[3].as_str().unwrap(), args[4].as_str().unwrap(), &args[5], &args[6]);
        let mut o = odoo.lock().unwrap();
        match (model, call) {
            ("account.move", "search_read") => {
                let domain = params[0].as_array().unwrap();
                let mut found: Vec<&Value> = o.invoices.iter().filter(|i| matches(i, domain)).collect();
                found.sort_by(|a, b| {
                    (a["write_date"].as_str(), a["id"].as_i64()).cmp(&(b["write_date"].as_str(), b["id"].as_i64()))
                });
                let limit = kwargs["limit"].as_u64().unwrap_or(u64::MAX) as usize;
                reply(Value::Array(found.into_iter().take(limit).map(|i| project(i, &kwargs["fields"])).collect()))
            }
            ("res.partner", "read") => {
                let ids = params[0].as_array().unwrap();
                reply(Value::Array(
                    o.partners
                        .iter()
                        .filter(|p| ids.contains(&p["id"]))
                        .map(|p| project(p, &kwargs["fields"]))
                        .collect(),
                ))
            }
            ("account.payment", "search_count") => {
                let domain = params[0].as_array().unwrap();
                reply(json!(o.payments.iter().filter(|p| matches(p, domain)).count()))
            }
            ("account.payment.register", "create") => {
                o.wizards.push((params[0].clone(), kwargs["context"].clone()));
                reply(json!(o.wizards.len()))
            }
            ("account.payment.register", "action_create_payments") => {
                let wid = params[0][0].as_u64().unwrap() as usize;
                let (vals, ctx) = o.wizards[wid - 1].clone();
                let invoice_id = ctx["active_ids"][0].clone();
                // Odoo's float fields accept the decimal string Relance sends.
                let amount: f64 = vals["amount"].as_str().expect("amount sent as a decimal string").parse().unwrap();
                let stamp = o.tick();
                let inv = o.invoices.iter_mut().find(|i| i["id"] == invoice_id).unwrap();
                let residual = inv["amount_residual"].as_f64().unwrap() - amount;
                inv["amount_residual"] = json!(residual);
                inv["payment_state"] = json!(if residual <= 0.0 { "paid" } else { "partial" });
                inv["write_date"] = json!(stamp);
                o.payments.push(json!({ "ref": vals["communication"], "amount": amount, "invoice": invoice_id, "journal_id": vals["journal_id"] }));
                reply(json!({ "type": "ir.actions.act_window_close" }))
            }
            ("account.move", "message_post") => {
                let body = kwargs["body"].as_str().unwrap_or_default().to_string();
                o.notes.push((params[0][0].as_i64().unwrap(), body));
                reply(json!(1))
            }
            _ => fail(&format!("{model}.{call} not faked")),
        }
    }))
}

fn invoice(id: i64, name: Value, partner: (i64, &str), total: f64, residual: f64, write_date: &str) -> Value {
    json!({
        "id": id, "name": name, "move_type": "out_invoice", "state": "posted",
        "partner_id": [partner.0, partner.1], "invoice_date": "2026-10-15", "invoice_date_due": "2026-11-14",
        "currency_id": [1, "EUR"], "amount_total": total, "amount_residual": residual,
        "payment_state": if residual < total { "partial" } else { "not_paid" }, "write_date": write_date,
    })
}

fn fake() -> Arc<Mutex<FakeOdoo>> {
    Arc::new(Mutex::new(FakeOdoo {
        invoices: vec![
            invoice(11, json!("INV/2026/00011"), (7, "Garage Martin"), 1200.0, 1200.0, "2026-11-20 09:00:00"),
            invoice(12, json!("INV/2026/00012"), (7, "Garage Martin"), 480.5, 180.5, "2026-11-20 09:05:00"),
            invoice(13, json!("INV/2026/00013"), (8, "Boulangerie Roux"), 99.99, 99.99, "2026-11-20 09:10:00"),
            invoice(14, json!(false), (8, "Boulangerie Roux"), 10.0, 10.0, "2026-11-20 09:15:00"),
            json!({ "id": 15, "name": "INV/2026/00015", "move_type": "in_invoice", "state": "posted", "partner_id": [9, "Supplier"],
                    "invoice_date": "2026-10-15", "invoice_date_due": "2026-11-14", "currency_id": [1, "EUR"],
                    "amount_total": 5.0, "amount_residual": 5.0, "payment_state": "not_paid", "write_date": "2026-11-20 09:20:00" }),
        ],
        partners: vec![
            json!({ "id": 7, "name": "Garage Martin", "email": "compta@garage-martin.example", "phone": "+33 4 72 00 00 00", "lang": "fr_FR" }),
            json!({ "id": 8, "name": "Boulangerie Roux", "email": false, "phone": false, "lang": "en_US" }),
        ],
        ..Default::default()
    }))
}

fn tenant(port: u16, key: &str) -> String {
    format!(
        r#"[api]
tokens = ["odoo-token-0001"]
[connectors.odoo]
kind = "odoo"
url = "http://127.0.0.1:{port}"
database = "acme"
login = "relance@acme.test"
api_key = "{key}"
page_size = 10
[connectors.odoo.retry]
attempts = 1
[connectors.bank]
kind = "bank_statements"
path = "../bank"
[connectors.odoo_payments]
kind = "odoo_writeback"
url = "http://127.0.0.1:{port}"
database = "acme"
login = "relance@acme.test"
api_key = "{key}"
journal_id = 6
"#
    )
}

fn run(d: &Deployment) -> String {
    let out = d.run(&["run", "--once"]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn odoo_invoices_sync_and_payments_are_registered_once() {
    let odoo = fake();
    let (port, seen) = serve(odoo.clone());
    let d = Deployment::new("", &[("acme", &tenant(port, "odoo-key"))]);
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let first = run(&d);
    assert!(first.contains("acme/odoo: ok (3 items, 1 quarantined"), "{first}");
    let rows: Vec<(String, String, i64, String)> = d
        .db()
        .prepare("SELECT number, customer_id, open_minor, status FROM invoices ORDER BY number")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("INV/2026/00011".into(), "7".into(), 120_000, "open".into()),
            ("INV/2026/00012".into(), "7".into(), 18_050, "partially_paid".into()),
            ("INV/2026/00013".into(), "8".into(), 9_999, "open".into()),
        ],
        "customer invoices only, exact residual amounts"
    );
    let (email, lang): (String, String) = d
        .db()
        .query_row("SELECT emails, language FROM customers WHERE id='7'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((email.as_str(), lang.as_str()), ("[\"compta@garage-martin.example\"]", "fr"));
    let reason: String = d.db().query_row("SELECT reason FROM quarantine", [], |r| r.get(0)).unwrap();
    assert_eq!(reason, "no invoice number");

    // Incremental: only what changed since the last write_date is asked for and read.
    {
        let mut o = odoo.lock().unwrap();
        o.invoices[2]["amount_residual"] = json!(49.99);
        o.invoices[2]["payment_state"] = json!("partial");
        o.invoices[2]["write_date"] = json!("2026-11-21 08:00:00");
    }
    seen.lock().unwrap().clear();
    let second = run(&d);
    assert!(second.contains("acme/odoo: ok (1 items, 0 quarantined"), "{second}");
    let search =
        seen.lock().unwrap().iter().map(|r| r.json()).find(|b| b["params"]["args"][4] == "search_read").unwrap();
    assert!(
        search.to_string().contains("[\"write_date\",\">\",\"2026-11-20 09:15:00\"]"),
        "keyset on write_date: {search}"
    );
    let open: i64 =
        d.db().query_row("SELECT open_minor FROM invoices WHERE number='INV/2026/00013'", [], |r| r.get(0)).unwrap();
    assert_eq!(open, 4_999);

    // The bank pays INV/2026/00011 in full: Relance applies it and registers the payment in Odoo, once.
    d.write(
        "bank/releve.csv",
        "Date;Libellé;Montant;Devise\n22/11/2026;VIR SEPA GARAGE MARTIN FACTURE INV/2026/00011;1200,00;EUR\n",
    );
    let third = run(&d);
    assert!(third.contains("acme/odoo_payments: ok (1 items"), "{third}");
    // Registered in Odoo: the ERP holds the payment, so the allocation is reflected at once.
    let reflected = || -> (String, Option<String>, i64, i64) {
        d.db().query_row(
            "SELECT a.erp_state, a.reflected_by, i.open_minor, i.erp_open_minor FROM allocations a
             JOIN invoices i ON i.tenant_id=a.tenant_id AND i.number=a.invoice_number WHERE a.invoice_number='INV/2026/00011'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    assert_eq!(reflected(), ("reflected".into(), Some("writeback_registered".into()), 0, 0));
    let fourth = run(&d);
    assert!(fourth.contains("acme/odoo_payments: ok (0 items"), "nothing delivered twice: {fourth}");
    {
        let o = odoo.lock().unwrap();
        assert_eq!(o.payments.len(), 1, "{:?}", o.payments);
        assert_eq!(o.payments[0]["amount"], json!(1200.0));
        assert_eq!(o.payments[0]["invoice"], json!(11));
        assert_eq!(o.payments[0]["journal_id"], json!(6));
        assert!(o.payments[0]["ref"].as_str().unwrap().starts_with("relance:"));
    }
    // And Odoo's side of the story comes back with the next sync.
    let status: String =
        d.db().query_row("SELECT status FROM invoices WHERE number='INV/2026/00011'", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "paid");
    assert_eq!(reflected(), ("reflected".into(), Some("writeback_registered".into()), 0, 0), "Odoo agrees");
}

#[test]
fn refused_odoo_credentials_are_a_clear_error() {
    let (port, _) = serve(fake());
    let d = Deployment::new("", &[("acme", &tenant(port, "wrong-key"))]);
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let text = run(&d);
    assert!(
        text.contains("acme/odoo: FAILED: Odoo refused the credentials of `relance@acme.test` on database `acme` (check login and API key)"),
        "{text}"
    );
    assert_eq!(d.db().query_row("SELECT count(*) FROM invoices", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
}
