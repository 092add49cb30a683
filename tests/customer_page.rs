//! The customer page (issue #15) through the real daemon, in a browser-like
//! client over plain HTTP (session cookie, CSRF token of the page's forms):
//! the page shows the customer's open invoices and credit note with the
//! totals per currency, a reminder (subject and folded text) and a note
//! added through the page's form in its timeline, and the bounced address
//! marked undeliverable in words; the JSON API (`/customers/{id}/overview`
//! and `/timeline`) says the same; a person of another tenant gets a 404
//! and another tenant's token a 403.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Daemon, Deployment, HEADER, repo_path};
use serde_json::Value;

const TOKEN: &str = "custpage-token-0001";
const OTHER_TOKEN: &str = "custpage-token-0002";
/// `relance-acme`, as in config/demo/tenants/acme.toml.
const ACME_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$UoEDIQILwmuGTrsLUjhc6g$vnqcC956ySYrRv3G0jJ5eqzAL0xkj7G09TMvMdmYQgs";
/// `relance-demo`, as in config/demo/tenants/demo.toml.
const DEMO_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$u10hKnmxD88YI9FEUNHypQ$51WXE7PP3Ezkyi1wXnQcWReq4yO69edwf4bu6j9cabE";

/// A client that keeps cookies and posts forms.
struct Browser {
    port: u16,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> (u16, String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cookie = if cookie.is_empty() { String::new() } else { format!("Cookie: {}\r\n", cookie.join("; ")) };
        let body = form
            .map(|f| f.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&"))
            .unwrap_or_default();
        let content = if form.is_some() {
            format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len())
        } else {
            String::new()
        };
        write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}{content}Connection: close\r\n\r\n{body}")
            .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut location = String::new();
        for l in lines {
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "location" {
                location = v.to_string();
            }
            if k == "set-cookie"
                && let Some((name, rest)) = v.split_once('=')
            {
                let value = rest.split(';').next().unwrap_or("").to_string();
                if value.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value);
                }
            }
        }
        (status, location, body.to_string())
    }

    fn get(&mut self, path: &str) -> (u16, String) {
        let (status, _, body) = self.send("GET", path, None);
        (status, body)
    }

    /// Logs in through the form; where the login sends the person.
    fn login(port: u16, tenant: &str, name: &str, password: &str) -> Browser {
        let mut b = Browser { port, cookies: BTreeMap::new() };
        let (_, form) = b.get("/login");
        let csrf = hidden(&form, "csrf");
        let (status, location, _) = b.send(
            "POST",
            "/login",
            Some(&[("tenant", tenant), ("name", name), ("password", password), ("csrf", &csrf)]),
        );
        assert_eq!((status, location.as_str()), (303, format!("/t/{tenant}/").as_str()), "login {name}@{tenant}");
        b
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no `{name}` input in:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap_or("").to_string()
}

/// The HTML of the element that starts at the first occurrence of `marker`, up to its closing `</tag>`.
fn element<'a>(html: &'a str, marker: &str, tag: &str) -> &'a str {
    let start = html.find(marker).unwrap_or_else(|| panic!("no `{marker}` in:\n{html}"));
    let end = html[start..].find(&format!("</{tag}>")).map(|e| start + e).unwrap_or(html.len());
    &html[start..end]
}

fn api(d: &Daemon, path: &str) -> Value {
    let (status, v) = d.get_json(&format!("/api/v1/tenants/acme{path}"), Some(TOKEN));
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::London).date_naive()
}

fn tenant(token: &str, user: &str, hash: &str, extra: &str) -> String {
    format!(
        "timezone = \"Europe/London\"\nlanguage = \"en\"\n{extra}\n[api]\ntokens = [\"{token}\"]\n\
         [[users]]\nname = \"{user}\"\nrole = \"collector\"\npassword_hash = \"{hash}\"\n"
    )
}

#[test]
fn the_customer_page_shows_open_items_totals_timeline_and_contacts() {
    let today = today();
    let due = (today - chrono::Duration::days(30)).to_string();
    let later = (today + chrono::Duration::days(30)).to_string();
    let acme = tenant(
        TOKEN,
        "acme-collector",
        ACME_HASH,
        "scenarios = [\"b2b_standard\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"",
    );
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &acme), ("other", &tenant(OTHER_TOKEN, "collector", DEMO_HASH, ""))],
    );
    d.write("scenarios/b2b_standard.toml", std::fs::read(repo_path("config/scenarios/b2b_standard.toml")).unwrap());
    let mut csv = String::from(HEADER);
    csv.push_str(&format!("I-1,C1,Client Un,ap@c1.example,,2026-01-05,{due},EUR,500.00,500.00\n"));
    csv.push_str(&format!("I-2,C1,Client Un,ap@c1.example,,2026-01-06,{later},EUR,200.00,200.00\n"));
    csv.push_str(&format!("CN-1,C1,Client Un,ap@c1.example,,2026-01-07,{later},EUR,-50.00,-50.00\n"));
    csv.push_str(&format!("J-1,C2,Client Deux,ap@c2.example,,2026-01-05,{due},EUR,900.00,900.00\n"));
    d.write("invoices/open.csv", csv);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The planner queues C1's first reminder for I-1.
    let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", &today.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let subject: String = d
        .db()
        .query_row(
            "SELECT subject FROM outbox WHERE tenant_id='acme' AND customer_id='C1' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a reminder queued for C1");
    // A delivery report said C1's address bounces (as reply handling records it).
    d.exec(
        "INSERT INTO contact_undeliverable (tenant_id, address, customer_id, since, status_code, diagnostic)
         VALUES ('acme', 'ap@c1.example', 'C1', '2026-01-10T10:00:00.000Z', '5.1.1', 'user unknown')",
    );

    let daemon = d.daemon();
    let mut alice = Browser::login(daemon.port, "acme", "acme-collector", "relance-acme");
    let (status, page) = alice.get("/t/acme/customers/C1");
    assert_eq!(status, 200, "{page}");
    // A note through the page's form.
    let csrf = hidden(&page, "csrf");
    let (status, location, _) = alice.send(
        "POST",
        "/t/acme/customers/C1/notes",
        Some(&[("csrf", &csrf), ("text", "Called the accountant: pays on Friday")]),
    );
    assert_eq!((status, location.as_str()), (303, "/t/acme/customers/C1"));
    let (status, page) = alice.get("/t/acme/customers/C1");
    assert_eq!(status, 200);

    // Open items: both invoices and the credit note, not C2's invoice.
    let items = element(&page, "id=\"open-items\"", "table");
    for n in ["I-1", "I-2", "CN-1"] {
        assert!(items.contains(&format!("id=\"invoice-{n}\"")), "{n} in {items}");
    }
    assert!(!page.contains("J-1"), "another customer's invoice");
    let credit = element(items, "id=\"invoice-CN-1\"", "tr");
    assert!(credit.contains("Credit note") && credit.contains("-50.00 EUR"), "{credit}");
    // Totals: 700.00 due on two invoices, -50.00 of credit notes, balance 650.00.
    let totals = element(&page, "<tr data-currency=\"EUR\">", "tr");
    assert!(totals.contains("700.00 (2)") && totals.contains("-50.00 (1)"), "{totals}");
    assert!(element(totals, "class=\"num balance\"", "td").contains("650.00"), "{totals}");
    // Timeline: the note and the reminder with its subject (its text folded in <details>).
    let timeline = element(&page, "id=\"timeline\"", "ol");
    let note = element(timeline, "class=\"event note_added\"", "li");
    assert!(note.contains("Called the accountant: pays on Friday") && note.contains("acme-collector"), "{note}");
    let reminder = element(timeline, "class=\"event reminder\"", "li");
    assert!(reminder.contains("<details><summary>") && reminder.contains(&escaped(&subject)), "{reminder}");
    assert!(reminder.contains("/t/acme/approvals/"), "a link to the reminder: {reminder}");
    assert!(timeline.contains("class=\"event invoice_issued\" data-invoice=\"CN-1\""), "{timeline}");
    // Contacts: the bounced address says so in words.
    let contact = element(&page, "data-address=\"ap@c1.example\"", "li");
    assert!(contact.contains("UNDELIVERABLE") && contact.contains("5.1.1"), "{contact}");

    // The API says the same.
    let o = api(&daemon, "/customers/C1/overview");
    let numbers: Vec<&str> = o["items"].as_array().unwrap().iter().filter_map(|i| i["number"].as_str()).collect();
    assert_eq!(numbers, ["I-1", "CN-1", "I-2"], "by due date: {o}");
    assert_eq!(o["items"][1]["kind"], "credit_note");
    assert_eq!(o["totals"][0]["balance"], serde_json::json!({ "amount": "650.00", "currency": "EUR" }), "{o}");
    assert_eq!(o["totals"][0]["credit_notes"]["amount"], "-50.00");
    assert_eq!(o["contacts"][0]["address"], "ap@c1.example");
    assert_eq!(o["contacts"][0]["status"], "undeliverable");
    assert!(o["next_step"].is_object() || o["next_step"].is_null(), "{o}");
    let page1 = api(&daemon, "/customers/C1/overview?limit=2");
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let after = page1["next_after"].as_str().expect("a second page");
    let page2 = api(&daemon, &format!("/customers/C1/overview?limit=2&after={}", encode(after)));
    assert_eq!(page2["items"][0]["number"], "I-2", "{page2}");
    assert_eq!(page2["next_after"], Value::Null);

    let tl = api(&daemon, "/customers/C1/timeline?limit=100");
    let kinds: Vec<&str> = tl["items"].as_array().unwrap().iter().filter_map(|e| e["event"]["kind"].as_str()).collect();
    assert_eq!(kinds[0], "note_added", "newest first: {kinds:?}");
    assert!(kinds.contains(&"reminder") && kinds.iter().filter(|k| **k == "invoice_issued").count() == 3, "{kinds:?}");
    assert!(tl["items"].as_array().unwrap().iter().any(|e| e["event"]["subject"] == subject.as_str()));
    let short = api(&daemon, "/customers/C1/timeline?limit=1");
    let cursor = short["next_after"].as_str().expect("more than one entry");
    let rest = api(&daemon, &format!("/customers/C1/timeline?limit=100&after={}", encode(cursor)));
    assert_eq!(rest["items"].as_array().unwrap().len(), kinds.len() - 1, "the rest after the first");
    let (status, e) = daemon.get_json("/api/v1/tenants/acme/customers/C9/overview", Some(TOKEN));
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = daemon.get_json("/api/v1/tenants/acme/customers/C9/timeline", Some(TOKEN));
    assert_eq!(status, 404);
    let (status, _) = daemon.get_json("/api/v1/tenants/acme/customers/C1/timeline?after=nonsense", Some(TOKEN));
    assert_eq!(status, 400, "a cursor that is not one");
    let (status, _) = daemon.get_json("/api/v1/tenants/acme/customers/C1/overview", Some(OTHER_TOKEN));
    assert_eq!(status, 403, "another tenant's token");

    // A person of another tenant: no such page.
    let mut bob = Browser::login(daemon.port, "other", "collector", "relance-demo");
    let (status, body) = bob.get("/t/acme/customers/C1");
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("I-1"));
    let (status, _) = alice.get("/t/acme/customers/C9");
    assert_eq!(status, 404, "an unknown customer");
}

/// `text` as the templates escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}
