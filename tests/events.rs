//! Domain events end to end (issue #18): a tenant goes through a simulated
//! month (invoices imported, a statement applied, reminders sent, customers
//! handed over, a promise, an allocation undone) while a webhook subscriber
//! started here receives its events. The daemon is SIGKILLed while a
//! delivery is in flight and restarted: the subscriber ends up with every
//! event of `domain_events`, in id order per customer, each signature
//! valid, repeats only under the same id. Then the SSE endpoint resumes
//! from an id (`?after=`, `Last-Event-ID`) and streams a new event live.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use common::{Deployment, wait_for};

const TOKEN: &str = "acme-token-0001";
const SECRET: &str = "events-secret-0123456789";

/// One POST the subscriber received.
#[derive(Debug, Clone)]
struct Delivery {
    event_id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    received_at: i64,
}

/// The subscriber (on the tests' HTTP server, `common::http`): records each
/// event POST on arrival, then answers 200 after `delay` ms (so a delivery is
/// in flight for that long). Reminder webhooks (any other path) are answered
/// at once.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Delivery>>>,
    delay: Arc<AtomicU64>,
}

impl Receiver {
    fn start() -> Receiver {
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let delay = Arc::new(AtomicU64::new(0));
        let (log, wait) = (seen.clone(), delay.clone());
        let (port, _) = common::http::serve(Box::new(move |req| {
            if req.path == "/events" {
                let header = |k: &str| req.headers.get(k).cloned().unwrap_or_default();
                log.lock().unwrap().push(Delivery {
                    event_id: header("x-relance-event-id"),
                    timestamp: header("x-relance-timestamp"),
                    signature: header("x-relance-signature"),
                    body: req.body.clone(),
                    received_at: chrono::Utc::now().timestamp(),
                });
                std::thread::sleep(Duration::from_millis(wait.load(Ordering::SeqCst)));
            }
            (200, "{}".to_string())
        }));
        Receiver { port, seen, delay }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }
}

fn tenant(port: u16) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["month"]
[api]
tokens = ["{TOKEN}"]
[dunning]
sender_address = ["Acme Industrie SAS", "1 rue de la Paix", "75002 Paris"]
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
[connectors.bank]
kind = "bank_statements"
path = "../bank"
[connectors.reminders]
kind = "webhook"
url = "http://127.0.0.1:{port}/hooks/reminders"
secret = "reminder-secret-0123456789"
[[events.webhooks]]
name = "crm"
url = "http://127.0.0.1:{port}/events"
secret = "{SECRET}"
max_backoff = "2s"
"#
    )
}

const SCENARIO: &str = r#"description = "a month"
min_gap_days = 1
[[steps]]
id = "nudge"
offset_days = 1
channel = "webhook"
template = "courteous"
[[steps]]
id = "agency"
offset_days = 10
channel = "webhook"
template = "handoff"
confirm = false
"#;

const CAMT: &str = r#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>S1</MsgId></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2027-02-25</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Durand SAS</Nm></Dbtr></RltdPties><RmtInf><Ustrd>Facture H-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"#;

/// (id, type, customer) of every event of `domain_events`, in id order (a
/// row packing the invoices of an import batch holds ids `id-count+1..=id`).
fn table(d: &Deployment) -> Vec<(i64, String, Option<String>)> {
    let db = d.db();
    let mut st = db.prepare("SELECT id, type, customer_id, count, data FROM domain_events ORDER BY id").unwrap();
    let rows: Vec<(i64, String, Option<String>, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for (id, ty, customer, count, data) in rows {
        if count == 1 {
            out.push((id, ty, customer));
            continue;
        }
        let packed: serde_json::Value = serde_json::from_str(&data).unwrap();
        let invoices = packed["invoices"].as_array().unwrap();
        assert_eq!(invoices.len() as i64, count);
        for (i, inv) in invoices.iter().enumerate() {
            out.push((id - count + 1 + i as i64, ty.clone(), inv[1].as_str().map(String::from)));
        }
    }
    out
}

fn verify(d: &Delivery) -> serde_json::Value {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(d.timestamp.as_bytes());
    mac.update(b".");
    mac.update(&d.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(d.signature, expected, "a valid signature on event {}", d.event_id);
    let ts: i64 = d.timestamp.parse().expect("a unix timestamp");
    assert!((d.received_at - ts).abs() <= 60, "a fresh timestamp: {ts} received at {}", d.received_at);
    let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(body["id"].to_string(), d.event_id, "the header names the body's event");
    assert_eq!((body["tenant"].as_str(), body["schema_version"].as_i64()), (Some("acme"), Some(1)), "{body}");
    body
}

#[test]
fn a_subscriber_gets_every_event_of_a_month_in_order_once_by_id_across_a_sigkill() {
    let recv = Receiver::start();
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(recv.port))]);
    d.write("scenarios/month.toml", SCENARIO);
    d.write(
        "input/invoices.csv",
        "invoice_number,customer_id,customer_name,customer_email,customer_iban,issue_date,due_date,currency,amount_total,amount_open\n\
         F-1,C1,Martin SARL,ap@martin.test,,2027-01-15,2027-03-01,EUR,1000.00,1000.00\n\
         F-2,C1,Martin SARL,ap@martin.test,,2027-01-20,2027-03-01,EUR,500.00,500.00\n\
         G-1,C2,Dupont SA,ap@dupont.test,,2027-01-25,2027-03-01,EUR,800.00,800.00\n\
         H-1,C3,Durand SAS,ap@durand.test,,2027-01-30,2027-03-01,EUR,300.00,300.00\n",
    );
    d.write("bank/s1.xml", CAMT);

    // The month, before any daemon runs: the events wait in the outbox table.
    let once = d.run(&["run", "--once"]);
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    for day in ["2027-03-02", "2027-03-11"] {
        let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", day]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = d.run(&["dunning", "deliver", "--tenant", "acme", "--at", &format!("{day}T10:00")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let month = table(&d);
    let count = |ty: &str| month.iter().filter(|e| e.1 == ty).count();
    assert_eq!(count("invoice.imported"), 4, "{month:?}");
    assert_eq!(count("payment.applied"), 1, "{month:?}");
    assert_eq!(count("reminder.sent"), 4, "nudge and hand-off letters of C1 and C2: {month:?}");
    assert_eq!(count("customer.handed_over"), 2, "{month:?}");
    assert!(month.iter().all(|e| e.2.is_some()), "every event names its customer: {month:?}");
    assert!(recv.deliveries().is_empty(), "only the daemon delivers");

    // The daemon delivers slowly (each answer after 300 ms); a promise is
    // recorded meanwhile; SIGKILL while the fourth delivery waits for its answer.
    recv.delay.store(300, Ordering::SeqCst);
    let mut daemon = d.daemon();
    let (s, body) = daemon.send_json(
        "POST",
        "/api/v1/tenants/acme/customers/C2/promises",
        TOKEN,
        r#"{"promised_date": "2027-03-20"}"#,
    );
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(30), "a fourth delivery in flight", || recv.deliveries().len() >= 4);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    let at_kill = recv.deliveries().len();
    let first_unacked: i64 = {
        let db = d.db();
        db.query_row("SELECT coalesce(max(last_id), 0) FROM event_subscriptions", [], |r| r.get(0)).unwrap()
    };
    assert!(first_unacked < table(&d).last().unwrap().0, "the kill left events undelivered");

    // Restart; an allocation undone adds one more event.
    recv.delay.store(20, Ordering::SeqCst);
    let daemon = d.daemon();
    let allocation: i64 = d.db().query_row("SELECT id FROM allocations", [], |r| r.get(0)).unwrap();
    let (s, body) = daemon.post_json(&format!("/api/v1/tenants/acme/allocations/{allocation}/undo"), TOKEN);
    assert_eq!(s, 200, "{body}");
    let all = table(&d);
    assert_eq!(all.iter().filter(|e| e.1 == "promise.created" || e.1 == "payment.undone").count(), 2, "{all:?}");
    let expected: BTreeSet<String> = all.iter().map(|e| e.0.to_string()).collect();
    wait_for(Duration::from_secs(60), "every event delivered", || {
        recv.deliveries().iter().map(|x| x.event_id.clone()).collect::<BTreeSet<_>>() == expected
    });

    let got = recv.deliveries();
    assert!(got.len() > at_kill, "delivery went on after the restart");
    // Every POST signed and fresh; a repeat carries the same id and the same document.
    let mut first: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut order: Vec<i64> = Vec::new();
    for x in &got {
        let body = verify(x);
        match first.get(&x.event_id) {
            Some(earlier) => assert_eq!(earlier, &body, "a repeat of event {} is the same event", x.event_id),
            None => {
                order.push(body["id"].as_i64().unwrap());
                first.insert(x.event_id.clone(), body);
            }
        }
    }
    let repeats = got.len() - first.len();
    assert!(repeats >= 1, "the delivery cut by SIGKILL is sent again (at least once)");
    assert!(repeats <= 1, "only the delivery in flight is repeated: {repeats} repeats");
    // In id order, hence in order per customer; types and customers as stored.
    assert!(order.windows(2).all(|w| w[0] < w[1]), "first deliveries in id order: {order:?}");
    let mut per_customer: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (id, ty, customer) in &all {
        let body = &first[&id.to_string()];
        assert_eq!((body["type"].as_str(), body["customer_id"].as_str()), (Some(ty.as_str()), customer.as_deref()));
        per_customer.entry(customer.clone().unwrap_or_default()).or_default().push(*id);
    }
    for (customer, ids) in &per_customer {
        let received: Vec<i64> = order.iter().copied().filter(|i| ids.contains(i)).collect();
        assert_eq!(&received, ids, "customer {customer}'s events in order");
    }
    // The last answer is acknowledged just after the receiver saw the request.
    wait_for(Duration::from_secs(10), "no lag once delivered", || {
        daemon.get("/metrics", None).1.contains("relance_event_subscriber_lag{tenant=\"acme\",subscriber=\"crm\"} 0")
    });

    // The stream resumes after an id, by query or by Last-Event-ID.
    let ids: Vec<i64> = all.iter().map(|e| e.0).collect();
    let after = ids[4];
    let streamed = sse(daemon.port, &format!("/api/v1/tenants/acme/events/stream?after={after}"), None, ids.len() - 5);
    assert_eq!(streamed.iter().map(|e| e.0).collect::<Vec<_>>(), ids[5..].to_vec());
    let types: Vec<&str> = all[5..].iter().map(|e| e.1.as_str()).collect();
    assert_eq!(streamed.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), types);
    assert!(streamed.iter().all(|e| e.2["id"].as_i64() == Some(e.0)), "data is the event document");
    let resumed = sse(daemon.port, "/api/v1/tenants/acme/events/stream?after=1", Some(ids[9]), ids.len() - 10);
    assert_eq!(resumed.iter().map(|e| e.0).collect::<Vec<_>>(), ids[10..].to_vec(), "Last-Event-ID wins over ?after");
    // The JSON page agrees.
    let (s, page) = daemon.get_json(&format!("/api/v1/tenants/acme/events/domain?after={after}&limit=3"), Some(TOKEN));
    assert_eq!(s, 200, "{page}");
    let page_ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(page_ids, ids[5..8].to_vec(), "{page}");
    // Without a resume point the stream starts at the latest event: a new one arrives live.
    let port = daemon.port;
    let live = std::thread::spawn(move || sse(port, "/api/v1/tenants/acme/events/stream", None, 1));
    std::thread::sleep(Duration::from_millis(800));
    let (s, body) = daemon.send_json(
        "POST",
        "/api/v1/tenants/acme/customers/C3/promises",
        TOKEN,
        r#"{"promised_date": "2027-03-25"}"#,
    );
    assert_eq!(s, 201, "{body}");
    let live = live.join().unwrap();
    assert_eq!((live[0].0, live[0].1.as_str()), (table(&d).last().unwrap().0, "promise.created"));
    assert_eq!(live[0].2["customer_id"], "C3");
    // Another tenant's token, or none, is refused.
    assert_eq!(daemon.get("/api/v1/tenants/acme/events/stream", None).0, 401);
}

/// Reads `want` events from an SSE endpoint: (id, event type, data).
fn sse(port: u16, path: &str, last_event_id: Option<i64>, want: usize) -> Vec<(i64, String, serde_json::Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let resume = last_event_id.map(|i| format!("Last-Event-ID: {i}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n{resume}\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l.trim_end().is_empty() {
            break;
        }
        head.push_str(&l);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    // The body is chunked: decode the chunks, then split the SSE messages.
    let mut text = String::new();
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < want {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out reading the stream: {out:?}");
        let mut size = String::new();
        r.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = vec![0u8; n + 2];
        r.read_exact(&mut chunk).unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
        while let Some(end) = text.find("\n\n") {
            let msg: String = text.drain(..end + 2).collect();
            let (mut id, mut ty, mut data) = (None, String::new(), String::new());
            for line in msg.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ty = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if let Some(id) = id {
                out.push((id, ty, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}
