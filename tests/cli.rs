//! The command line: help, and configuration validation errors that name the
//! file and the key.

mod common;

use common::{Deployment, csv_tenant, repo_path};

#[test]
fn help_lists_the_subcommands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["run", "check-config", "bench"] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
}

#[test]
fn the_shipped_demo_configuration_is_valid() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["check-config", "--config"])
        .arg(repo_path("config/demo/relance.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

/// Runs check-config and returns (exit code, stderr).
fn check(d: &Deployment) -> (Option<i32>, String) {
    let out = d.run(&["check-config"]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_unknown_key_is_reported_with_file_and_key() {
    let d = Deployment::new("", &[("acme", &csv_tenant("acme-token-1", "in", "delimeter = \";\"\n"))]);
    std::fs::create_dir_all(d.path("in")).unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tenants/acme.toml"), "{err}");
    assert!(err.contains("connectors.erp"), "{err}");
    assert!(err.contains("unknown field `delimeter`"), "{err}");
}

#[test]
fn a_wrong_type_is_reported_with_file_and_key() {
    let d = Deployment::new("listen = 8080\n", &[("acme", &csv_tenant("acme-token-1", "in", ""))]);
    std::fs::create_dir_all(d.path("in")).unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("relance.toml: key `listen`"), "{err}");
}

#[test]
fn a_missing_secret_is_reported_with_file_and_key() {
    let d = Deployment::new("", &[("acme", &csv_tenant("env:RELANCE_IT_UNSET_TOKEN_VAR", "in", ""))]);
    std::fs::create_dir_all(d.path("in")).unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tenants/acme.toml: key `api.tokens[0]`"), "{err}");
    assert!(err.contains("RELANCE_IT_UNSET_TOKEN_VAR is not set"), "{err}");
    // The same file is accepted once the variable is set.
    let out = d
        .relance()
        .args(["check-config", "--config"])
        .arg(d.config())
        .env("RELANCE_IT_UNSET_TOKEN_VAR", "s3cret-token")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn several_problems_are_reported_together() {
    let d = Deployment::new(
        "",
        &[
            ("acme", &csv_tenant("acme-token-1", "missing-dir", "")),
            ("beta", "timezone = \"Europe/Nowhere\"\n[connectors.x]\nkind = \"ftp_magic\"\n"),
        ],
    );
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("acme.toml: key `connectors.erp.path`") && err.contains("does not exist"), "{err}");
    assert!(err.contains("beta.toml: key `timezone`"), "{err}");
}

#[test]
fn an_unknown_connector_kind_lists_the_known_ones() {
    let d = Deployment::new("", &[("beta", "[connectors.x]\nkind = \"ftp_magic\"\n")]);
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("beta.toml: key `connectors.x.kind`: unknown connector kind `ftp_magic` (known: "), "{err}");
    for kind in ["csv_invoices", "bank_statements", "file_writeback", "imap_mailbox"] {
        assert!(err.contains(kind), "{kind} missing from {err}");
    }
}

/// `relance statements parse` and `relance match` keep the evaluation shapes on the demo data.
#[test]
fn statement_and_match_commands_print_the_documented_shapes() {
    let exe = env!("CARGO_BIN_EXE_relance");
    let stmt = repo_path("config/demo/bank/demo/statement-2026-11-23.xml");
    let out = std::process::Command::new(exe).args(["statements", "parse"]).arg(&stmt).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10);
    let keys = [
        "index",
        "booking_date",
        "value_date",
        "amount",
        "direction",
        "currency",
        "counterparty_name",
        "counterparty_iban",
        "remittance",
        "structured_ref",
        "end_to_end_id",
        "bank_ref",
    ];
    for (i, l) in lines.iter().enumerate() {
        let obj = l.as_object().unwrap();
        assert_eq!(obj.len(), keys.len(), "{l}");
        for k in keys {
            assert!(obj.contains_key(k), "missing {k} in {l}");
        }
        assert_eq!(l["index"], i);
    }
    assert_eq!(
        (lines[0]["amount"].as_str(), lines[0]["direction"].as_str(), lines[0]["currency"].as_str()),
        (Some("6945.54"), Some("credit"), Some("EUR"))
    );
    assert_eq!(lines[9]["direction"], "debit");

    let out = std::process::Command::new(exe)
        .args(["match", "--invoices"])
        .arg(repo_path("config/demo/cash/open-invoices.csv"))
        .arg("--statement")
        .arg(&stmt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 9, "one line per credit (the debit is left out)");
    for l in &lines {
        for k in ["index", "bank_ref", "amount", "status", "allocations", "confidence", "reasons"] {
            assert!(l.get(k).is_some(), "missing {k} in {l}");
        }
        let c = l["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
    }
    let by_ref = |r: &str| lines.iter().find(|l| l["bank_ref"] == r).unwrap().clone();
    let typo = by_ref("BQ202611230003");
    assert_eq!(
        (typo["status"].as_str(), typo["allocations"][0]["invoice"].as_str()),
        (Some("matched"), Some("FA-2026-0003")),
        "{typo}"
    );
    let two = by_ref("BQ202611230004");
    assert_eq!(two["allocations"].as_array().unwrap().len(), 2, "{two}");
    let fee = by_ref("BQ202611230007");
    assert_eq!(fee["allocations"][0]["amount"], "5856.01");
    assert_eq!(by_ref("BQ202611230008")["status"], "unmatched");
}

/// The same commands on a shared fixture, when `../shared` is present.
#[test]
fn statements_parse_on_a_shared_fixture() {
    let f = repo_path("../shared/fixtures/external/camt/genkgo-camt/camt053.v4.xml");
    if !f.exists() {
        eprintln!("note: ../shared is absent; shared fixture CLI check skipped");
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["statements", "parse"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() >= 1);
    let bad = repo_path("../shared/fixtures/external/camt/kedder-ofxstatement-iso20022/unsupported.xml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["statements", "parse"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported.xml") && err.contains("line 2") && err.contains("namespace"), "{err}");
}

/// Reply understanding on the shared labelled development set, when present.
#[test]
fn replies_eval_meets_the_targets_on_the_shared_dev_set() {
    let dir = repo_path("../shared/fixtures/replies-dev");
    if !dir.join("labels.jsonl").exists() {
        eprintln!("note: ../shared is absent; replies eval skipped");
        return;
    }
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_relance")).args(["replies", "eval"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let pct = |label: &str| -> f64 {
        let line = text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` in {text}"));
        line.split(label).nth(1).and_then(|r| r.split('%').next()).and_then(|v| v.trim().parse().ok()).unwrap()
    };
    assert!(pct("intent accuracy") >= 97.0, "{text}");
    assert!(pct("promised-date accuracy") >= 95.0, "{text}");
    assert!(pct("refs recall") >= 98.0, "{text}");
    let classify = std::process::Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["replies", "classify"])
        .arg(dir.join("001.eml"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&classify.stdout).unwrap();
    for k in [
        "file",
        "intent",
        "confidence",
        "promised_date",
        "amount",
        "currency",
        "refs",
        "language",
        "auto_reply",
        "new_text",
        "reasons",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
}

/// `relance dunning simulate` on the demo tenant: a timeline on business days only.
#[test]
fn dunning_simulation_on_the_demo_data() {
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[]);
    // Reuse the demo tenant and data, with this deployment's own database.
    std::fs::create_dir_all(d.path("tenants")).unwrap();
    let demo = std::fs::read_to_string(repo_path("config/demo/tenants/demo.toml")).unwrap();
    let demo = demo
        .replace(
            "path = \"../exports/demo\"",
            &format!("path = \"{}\"", repo_path("config/demo/exports/demo").display()),
        )
        .replace("path = \"../bank/demo\"", &format!("path = \"{}\"", repo_path("config/demo/bank/demo").display()))
        .replace("path = \"../../../data/demo/outbox\"", "path = \"../outbox\"");
    std::fs::write(d.path("tenants/demo.toml"), demo).unwrap();
    std::fs::create_dir_all(d.path("scenarios")).unwrap();
    for s in ["b2b_standard", "b2c_sms"] {
        std::fs::copy(repo_path(&format!("config/scenarios/{s}.toml")), d.path(&format!("scenarios/{s}.toml")))
            .unwrap();
    }
    assert!(d.run(&["run", "--once"]).status.success());
    let out = d.run(&["dunning", "simulate", "--tenant", "demo", "--from", "2026-11-23", "--to", "2026-12-31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let sends: Vec<&str> = text.lines().filter(|l| l.starts_with("2026-")).collect();
    assert!(sends.len() >= 8, "{text}");
    let mut per_day = std::collections::HashSet::new();
    for l in &sends {
        let date = chrono::NaiveDate::parse_from_str(&l[..10], "%Y-%m-%d").unwrap();
        use chrono::Datelike;
        assert!(date.weekday().number_from_monday() <= 5, "weekend send: {l}");
        assert!(!["2026-12-25"].contains(&&l[..10]), "holiday send: {l}");
        let customer = l.split_whitespace().nth(1).unwrap();
        assert!(per_day.insert((date, customer.to_string())), "two messages to {customer} on {date}");
    }
    assert!(text.contains("why:"), "every decision is explained");
    assert!(sends[0].contains("courteous"), "an old portfolio starts at the first overdue step: {}", sends[0]);
    // `dunning run` queues the day's reminders once, rendered, in the outbox.
    let plan = |day: &str| {
        let out = d.run(&["dunning", "run", "--tenant", "demo", "--day", day]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A copy request, as reply handling records it (the IMAP tests cover that part), is answered
    // by the same pass, to the address that asked, once.
    d.exec(
        "INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data) VALUES ('demo', '2026-11-23T08:00:00Z', 'replies',
         'invoice_copy_requested', 'message:42', '{\"customer\":\"C0002\",\"invoices\":[\"FA-2026-0008\"],\"to\":\"compta@client.example\"}')",
    );
    let first = plan("2026-11-23");
    let (copy_to, copy_body): (String, String) = d
        .db()
        .query_row("SELECT recipient, body FROM outbox WHERE step_id='invoice_copy'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(copy_to, "compta@client.example");
    assert!(copy_body.contains("FA-2026-0008"), "{copy_body}");
    let queued: usize =
        d.db().query_row("SELECT count(*) FROM outbox WHERE step_id<>'invoice_copy'", [], |r| r.get(0)).unwrap();
    let expected = text.lines().filter(|l| l.starts_with("2026-11-23")).count();
    assert!(queued > 0 && queued == expected, "the simulation's day = what is queued ({expected}): {first}");
    assert!(first.contains(&format!("{} reminder(s) queued", queued + 1)), "reminders and the copy: {first}");
    let (subject, body): (String, String) = d
        .db()
        .query_row("SELECT subject, body FROM outbox WHERE step_id<>'invoice_copy' LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(!subject.is_empty() && body.contains("FA-"), "rendered with the invoices: {subject}\n{body}");
    assert!(plan("2026-11-23").contains("0 reminder(s) queued"), "planning the same day again queues nothing");
    // The next days respect the minimum gap: nobody gets a second reminder within 5 days.
    plan("2026-11-24");
    plan("2026-11-26");
    let twice: usize = d
        .db()
        .query_row(
            "SELECT count(*) FROM (SELECT customer_id FROM outbox WHERE step_id<>'invoice_copy' GROUP BY customer_id HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(twice, 0);
    // After the gap the next step follows, never the same one again.
    plan("2026-11-30");
    let steps: Vec<String> = {
        let db = d.db();
        let mut st = db.prepare("SELECT step_id FROM outbox WHERE customer_id='C0001' ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_ne!(steps[0], steps[1]);
    let events: usize =
        d.db().query_row("SELECT count(*) FROM audit_events WHERE kind='reminder_queued'", [], |r| r.get(0)).unwrap();
    let rows: usize = d.db().query_row("SELECT count(*) FROM outbox", [], |r| r.get(0)).unwrap();
    assert_eq!(events, rows, "one event per queued reminder");
    // A tenant naming a scenario that does not exist is a configuration error.
    let bad = std::fs::read_to_string(d.path("tenants/demo.toml")).unwrap().replace("b2b_standard", "nope");
    std::fs::write(d.path("tenants/demo.toml"), bad).unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(2));
    assert!(err.contains("key `scenarios[0]`: no scenario file"), "{err}");
}

#[test]
fn the_example_tenant_file_is_valid() {
    let d = Deployment::new(&format!("scenarios_dir = \"{}\"\n", repo_path("config/scenarios").display()), &[]);
    std::fs::create_dir_all(d.path("exports")).unwrap();
    let example = std::fs::read_to_string(repo_path("config/tenants/example.toml"))
        .unwrap()
        .replace("/srv/erp/exports", &d.path("exports").display().to_string());
    d.write("tenants/example.toml", example);
    let out = d
        .relance()
        .args(["check-config", "--config"])
        .arg(d.config())
        .env("EXAMPLE_API_TOKEN", "example-token-0001")
        .env("SMTP_PASSWORD", "x")
        .env("ARCHIVE_PASSWORD", "y")
        .env("TWILIO_TOKEN", "z")
        .env("AGENCY_WEBHOOK_SECRET", "0123456789abcdef0123")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for kind in [
        "[smtp] outbound_channel",
        "[http_sms] outbound_channel",
        "[webhook] outbound_channel",
        "[letters] outbound_channel",
    ] {
        assert!(text.contains(kind), "{kind} missing: {text}");
    }
}

#[test]
fn check_config_names_the_scenario_file_and_step_of_an_unknown_template() {
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &format!("scenarios = [\"house\"]\n{}", csv_tenant("acme-token-1", "in", "")))],
    );
    std::fs::create_dir_all(d.path("in")).unwrap();
    let step = |id: &str, offset: i64, template: &str| {
        format!("[[steps]]\nid = \"{id}\"\noffset_days = {offset}\nchannel = \"email\"\ntemplate = \"{template}\"\n")
    };
    d.write(
        "scenarios/house.toml",
        format!("{}{}{}", step("one", 1, "courteous"), step("two", 8, "firm"), step("three", 15, "frim")),
    );
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("scenarios/house.toml: key `steps[2].template`: unknown template `frim`"), "{err}");
    assert_eq!(err.matches("  - ").count(), 1, "exactly one problem: {err}");
    // Fixed, the configuration is valid, and the override folder can add the template instead.
    d.write("templates/fr/frim.jinja", "Rappel ferme – {{ company }}\n---\nTotal : {{ total }}\n");
    d.write("templates/en/frim.jinja", "Firm reminder – {{ company }}\n---\nTotal: {{ total }}\n");
    std::fs::write(d.config(), "data_dir = \"data\"\nscenarios_dir = \"scenarios\"\ntemplates_dir = \"templates\"\n")
        .unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn check_config_names_the_template_file_of_a_jinja_syntax_error() {
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[(
            "acme",
            &format!(
                "scenarios = [\"house\"]\n{}\n[dunning]\ntemplates_dir = \"../acme-templates\"\n",
                csv_tenant("acme-token-1", "in", "")
            ),
        )],
    );
    std::fs::create_dir_all(d.path("in")).unwrap();
    d.write(
        "scenarios/house.toml",
        "[[steps]]\nid = \"one\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n",
    );
    d.write(
        "acme-templates/fr/courteous.jinja",
        "Rappel – {{ company }}\n---\nBonjour,\n{% for i in invoices %}\n  - {{ i.number }\n{% endfor %}\n",
    );
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("acme-templates/fr/courteous.jinja: line 5: syntax error"), "{err}");
}

#[test]
fn an_unknown_holiday_country_is_a_configuration_error() {
    let d = Deployment::new(
        "",
        &[("acme", &format!("{}\n[dunning]\ncountry = \"XX\"\n", csv_tenant("acme-token-1", "in", "")))],
    );
    std::fs::create_dir_all(d.path("in")).unwrap();
    let (code, err) = check(&d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tenants/acme.toml: key `dunning.country`: `XX`"), "{err}");
}

#[test]
fn docs_config_md_is_the_generated_configuration_reference() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance")).arg("config-reference").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(repo_path("docs/config.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/config.md is out of date with the settings' doc comments: regenerate it with\n    cargo run -- config-reference > docs/config.md"
    );
    // Every section is there: the global file, the tenant file, each built-in connector kind.
    for section in ["## Global file", "### `[dunning]`", "### `kind = \"csv_invoices\"`", "### `kind = \"smtp\"`"] {
        assert!(generated.contains(section), "{section}");
    }
}
