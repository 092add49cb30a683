use super::*;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(global: &str, tenants: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("relance.toml"), global).unwrap();
        for (name, body) in tenants {
            std::fs::write(dir.path().join("tenants").join(format!("{name}.toml")), body).unwrap();
        }
        Fixture { dir }
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load_with_env(&self.dir.path().join("relance.toml"), &env)
    }
}

const TENANT: &str = r#"
timezone = "Europe/Paris"
[api]
tokens = ["tenant-a-token"]
[connectors.erp]
kind = "csv_invoices"
path = "in"
schedule = "every 5m"
"#;

#[test]
fn loads_defaults_and_resolves_paths() {
    let f = Fixture::new("listen = \"127.0.0.1:9999\"\n", &[("acme", TENANT)]);
    let s = f.load(&[]).unwrap();
    assert_eq!(s.listen.port(), 9999);
    assert_eq!(s.data_dir, f.dir.path().join("data"));
    assert_eq!(s.database, DatabaseUrl::Sqlite(f.dir.path().join("data/relance.db")));
    let t = &s.tenants[0];
    assert_eq!(t.id.as_str(), "acme");
    assert_eq!(t.timezone, chrono_tz::Europe::Paris);
    assert_eq!(t.token_hashes, vec![token_digest("tenant-a-token")]);
    assert_eq!(t.connectors[0].schedule, Some(Schedule::Interval(Duration::from_secs(300))));
    assert_eq!(t.connectors[0].settings["path"], serde_json::json!("in"));
    assert_eq!(t.base_dir, f.dir.path().join("tenants"));
}

#[test]
fn unknown_key_is_named_with_its_file() {
    let f = Fixture::new("listen = \"127.0.0.1:9999\"\nlistne = 3\n", &[("acme", TENANT)]);
    let errs = f.load(&[]).unwrap_err();
    let text = errs.to_string();
    assert!(text.contains("relance.toml"), "{text}");
    assert!(text.contains("unknown field `listne`"), "{text}");
}

#[test]
fn wrong_type_in_tenant_is_named_with_key() {
    let bad = TENANT.replace("timezone = \"Europe/Paris\"", "timezone = \"Europe/Paris\"\nscenarios = 5");
    let f = Fixture::new("", &[("acme", &bad)]);
    let errs = f.load(&[]).unwrap_err();
    assert_eq!(errs.0.len(), 1);
    let e = &errs.0[0];
    assert!(e.file.ends_with("tenants/acme.toml"));
    assert_eq!(e.key.as_deref(), Some("scenarios"));
    assert!(e.message.contains("sequence"), "{}", e.message);
}

#[test]
fn missing_secret_and_bad_timezone_reported_together() {
    let bad =
        TENANT.replace("tenant-a-token", "env:RELANCE_TEST_NO_SUCH_TOKEN_VAR").replace("Europe/Paris", "Mars/Olympus");
    let f = Fixture::new("", &[("acme", &bad)]);
    let errs = f.load(&[]).unwrap_err();
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    assert!(keys.contains(&"timezone".to_string()), "{errs}");
    assert!(keys.contains(&"api.tokens[0]".to_string()), "{errs}");
    assert!(errs.to_string().contains("RELANCE_TEST_NO_SUCH_TOKEN_VAR is not set"));
}

#[test]
fn environment_overrides_global_and_tenant_keys() {
    let f = Fixture::new("listen = \"127.0.0.1:9999\"\n", &[("acme", TENANT)]);
    let s = f
        .load(&[
            ("RELANCE__LISTEN", "127.0.0.1:7777"),
            ("RELANCE__TENANT__ACME__TIMEZONE", "America/New_York"),
            ("RELANCE__TENANT__ACME__CONNECTORS__ERP__PATH", "elsewhere"),
        ])
        .unwrap();
    assert_eq!(s.listen.port(), 7777);
    assert_eq!(s.tenants[0].timezone, chrono_tz::America::New_York);
    assert_eq!(s.tenants[0].connectors[0].settings["path"], serde_json::json!("elsewhere"));
}

#[test]
fn override_of_unknown_tenant_and_shared_tokens_are_errors() {
    let f = Fixture::new("", &[("acme", TENANT), ("beta", TENANT)]);
    let errs = f.load(&[("RELANCE__TENANT__GAMMA__TIMEZONE", "UTC")]).unwrap_err();
    let text = errs.to_string();
    assert!(text.contains("also a token of tenant `acme`"), "{text}");
    assert!(text.contains("unknown tenant `gamma`"), "{text}");
}

#[test]
fn bad_schedule_and_connector_name() {
    let bad = TENANT.replace("every 5m", "sometimes").replace("connectors.erp", "connectors.Erp");
    let f = Fixture::new("", &[("acme", &bad)]);
    let text = f.load(&[]).unwrap_err().to_string();
    assert!(text.contains("connectors.Erp.schedule"), "{text}");
    assert!(text.contains("lower-case snake_case"), "{text}");
}

#[test]
fn schedules_parse() {
    assert_eq!(parse_schedule("watch"), Ok(Schedule::Watch { poll: Duration::from_secs(60) }));
    assert_eq!(parse_schedule("watch 10s"), Ok(Schedule::Watch { poll: Duration::from_secs(10) }));
    assert_eq!(parse_schedule("30s"), Ok(Schedule::Interval(Duration::from_secs(30))));
    assert!(parse_schedule("0s").is_err());
}

#[test]
fn join_clean_removes_dot_dot() {
    assert_eq!(
        join_clean(Path::new("config/demo/tenants"), Path::new("../exports")),
        PathBuf::from("config/demo/exports")
    );
    assert_eq!(join_clean(Path::new("a"), Path::new("../../b")), PathBuf::from("../b"));
    assert_eq!(join_clean(Path::new("/x/y"), Path::new("/abs")), PathBuf::from("/abs"));
    assert_eq!(join_clean(Path::new("/x"), Path::new("../../z")), PathBuf::from("/z"));
}

#[test]
fn http_limits_have_defaults_and_can_be_set_or_overridden() {
    let f = Fixture::new("", &[("acme", TENANT)]);
    assert_eq!(f.load(&[]).unwrap().http, HttpSettings::default());
    let f = Fixture::new(
        "[http]\nheader_read_timeout = \"2s\"\nidle_timeout = \"5s\"\nmax_body_bytes = 4096\nrate_limit_per_second = 5\n",
        &[("acme", TENANT)],
    );
    let h = f.load(&[("RELANCE__HTTP__MAX_CONNECTIONS", "8")]).unwrap().http;
    assert_eq!(h.header_read_timeout, Duration::from_secs(2));
    assert_eq!(h.body_read_timeout, Duration::from_secs(30));
    assert_eq!(h.idle_timeout, Duration::from_secs(5));
    assert_eq!((h.max_body_bytes, h.max_connections), (4096, 8));
    assert_eq!(h.rate_limit, Some(RateLimit { per_second: 5, burst: 10 }), "burst defaults to twice the rate");
    let off = Fixture::new("[http]\nrate_limit_per_second = 0\n", &[("acme", TENANT)]);
    assert_eq!(off.load(&[]).unwrap().http.rate_limit, None);
}

#[test]
fn bad_http_limits_are_named() {
    let f = Fixture::new(
        "[http]\nidle_timeout = \"soon\"\nbody_read_timeout = \"0s\"\nmax_connections = 0\nrate_limit_burst = 0\n",
        &[("acme", TENANT)],
    );
    let text = f.load(&[]).unwrap_err().to_string();
    for key in ["http.idle_timeout", "http.body_read_timeout", "http.max_connections", "http.rate_limit_burst"] {
        assert!(text.contains(&format!("key `{key}`")), "{key}: {text}");
    }
}

impl Fixture {
    fn write(&self, rel: &str, content: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

const STEP: &str = "[[steps]]\nid = \"first\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n";

#[test]
fn scenarios_are_compiled_into_the_tenant_at_load() {
    let f = Fixture::new("", &[("acme", &format!("scenarios = [\"s\"]\n{TENANT}"))]);
    f.write("scenarios/s.toml", &format!("min_gap_days = 3\n{STEP}"));
    let s = f.load(&[]).unwrap();
    let t = &s.tenants[0];
    assert_eq!(t.scenarios.len(), 1);
    assert_eq!(t.scenarios[0].name, "s");
    assert_eq!(t.scenarios[0].file, f.dir.path().join("scenarios/s.toml"));
    assert_eq!(t.scenarios[0].scenario.min_gap_days, 3);
    assert_eq!(t.scenarios[0].scenario.steps[0].template, "courteous");
    // Compiled once: removing the file afterwards changes nothing for this Settings.
    std::fs::remove_file(f.dir.path().join("scenarios/s.toml")).unwrap();
    assert_eq!(s.tenants[0].scenarios[0].scenario.steps.len(), 1);
}

#[test]
fn a_broken_scenario_is_named_with_its_file_and_key() {
    let f = Fixture::new("", &[("acme", &format!("scenarios = [\"s\", \"t\"]\n{TENANT}"))]);
    let unknown_template = STEP.replace("\"courteous\"", "\"courtoise\"");
    let out_of_order = STEP.replace("offset_days = 1", "offset_days = 0");
    f.write("scenarios/s.toml", &format!("{STEP}{}", unknown_template.replace("first", "second")));
    f.write("scenarios/t.toml", &format!("{STEP}{}", out_of_order.replace("first", "second").replace("email", "fax")));
    let errs = f.load(&[]).unwrap_err().0;
    let s = errs.iter().find(|e| e.file.ends_with("scenarios/s.toml")).expect("error in s.toml");
    assert_eq!(s.key.as_deref(), Some("steps[1].template"));
    assert!(s.message.contains("unknown template `courtoise`"), "{}", s.message);
    let t = errs.iter().find(|e| e.file.ends_with("scenarios/t.toml")).expect("error in t.toml");
    assert_eq!(t.key.as_deref(), Some("steps[1].channel"), "{t}");
    let f = Fixture::new("", &[("acme", &format!("scenarios = [\"t\"]\n{TENANT}"))]);
    f.write("scenarios/t.toml", &format!("{STEP}{}", out_of_order.replace("first", "second")));
    let errs = f.load(&[]).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].key.as_deref(), Some("steps[1].offset_days"));
    assert!(errs[0].file.ends_with("scenarios/t.toml"));
}

#[test]
fn template_overrides_global_then_tenant() {
    let f = Fixture::new(
        "templates_dir = \"tpl\"\n",
        &[("acme", &format!("scenarios = [\"s\"]\n{TENANT}\n[dunning]\ntemplates_dir = \"acme-tpl\"\n"))],
    );
    f.write("scenarios/s.toml", &STEP.replace("courteous", "maison"));
    f.write("tpl/fr/maison.jinja", "Global {{ company }}\n---\nCorps");
    f.write("tpl/en/maison.jinja", "Global en\n---\nBody");
    f.write("tpl/README.md", "not a template");
    f.write("tenants/acme-tpl/fr/maison.jinja", "Acme {{ company }}\r\n---\r\nCorps");
    let s = f.load(&[]).unwrap();
    let t = &s.tenants[0];
    let lang = relance_domain::Language::Fr;
    assert_eq!(t.templates.source(lang, "maison"), Some("Acme {{ company }}\n---\nCorps"));
    assert_eq!(t.templates.source(relance_domain::Language::En, "maison"), Some("Global en\n---\nBody"));
    assert_eq!(s.templates_dir, Some(f.dir.path().join("tpl")));
}

#[test]
fn a_broken_template_override_is_named_with_its_file_and_line() {
    let f = Fixture::new("templates_dir = \"tpl\"\n", &[("acme", TENANT)]);
    f.write("tpl/fr/courteous.jinja", "Sujet\n---\nBonjour\n{% if total %}\n{{ total }\n");
    f.write("tpl/en/courteous.jinja", "Subject\n---\nDear {{ custmer_name }}");
    f.write("tpl/de/courteous.jinja", "Betreff\n---\n");
    let errs = f.load(&[]).unwrap_err().0;
    let fr = errs.iter().find(|e| e.file.ends_with("tpl/fr/courteous.jinja")).expect("fr error");
    assert!(fr.message.starts_with("line 5: syntax error"), "{fr}");
    let en = errs.iter().find(|e| e.file.ends_with("tpl/en/courteous.jinja")).expect("en error");
    assert!(en.message.starts_with("line 3: ") && en.message.contains("undefined"), "{en}");
    assert!(errs.iter().any(|e| e.file.ends_with("tpl/de") && e.message.contains("language")), "{errs:?}");
    let missing = Fixture::new("templates_dir = \"nope\"\n", &[("acme", TENANT)]);
    let errs = missing.load(&[]).unwrap_err().0;
    assert_eq!(errs[0].key.as_deref(), Some("templates_dir"), "{errs:?}");
}

#[test]
fn the_holiday_country_defaults_to_france_and_is_checked() {
    let f = Fixture::new("", &[("acme", TENANT)]);
    assert_eq!(f.load(&[]).unwrap().tenants[0].dunning.country, HolidayCountry::Fr);
    let f = Fixture::new("", &[("acme", &format!("{TENANT}\n[dunning]\ncountry = \"gb\"\n"))]);
    assert_eq!(f.load(&[]).unwrap().tenants[0].dunning.country, HolidayCountry::Gb);
    let f = Fixture::new("", &[("acme", &format!("{TENANT}\n[dunning]\ncountry = \"none\"\n"))]);
    assert_eq!(f.load(&[]).unwrap().tenants[0].dunning.country, HolidayCountry::None);
    let f = Fixture::new("", &[("acme", &format!("{TENANT}\n[dunning]\ncountry = \"Atlantis\"\n"))]);
    let errs = f.load(&[]).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].key.as_deref(), Some("dunning.country"));
    assert!(errs[0].message.contains("`Atlantis`") && errs[0].message.contains("GB"), "{}", errs[0].message);
}

#[test]
fn the_late_interest_rate_comes_from_the_tenant_file() {
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    let f = Fixture::new("", &[("acme", TENANT)]);
    let s = f.load(&[]).unwrap();
    assert_eq!(s.tenants[0].dunning.late_interest.rate_bp(day(3, 1)), 1215, "the built-in default");
    let with = format!(
        "{TENANT}\n[dunning.late_interest]\nmargin = \"10\"\nreference_rates = [{{ from = 2026-01-01, rate = \"2.40\" }}, {{ from = 2026-07-01, rate = \"2.15\" }}]\n"
    );
    let f = Fixture::new("", &[("acme", &with)]);
    let s = f.load(&[]).unwrap();
    let li = &s.tenants[0].dunning.late_interest;
    assert_eq!((li.rate_bp(day(3, 1)), li.rate_bp(day(9, 1))), (1240, 1215));
    let bad = format!("{TENANT}\n[dunning.late_interest]\ncontractual_rate = \"douze\"\nmargin = \"150\"\n");
    let errs = Fixture::new("", &[("acme", &bad)]).load(&[]).unwrap_err();
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    assert_eq!(keys, ["dunning.late_interest.contractual_rate", "dunning.late_interest.margin"], "{errs}");
}

#[test]
fn the_database_url_may_be_postgres_through_a_secret_file() {
    let f = Fixture::new("[database]\nurl = \"file:db-url\"\n", &[("acme", TENANT)]);
    f.write("db-url", "postgres://relance:s3cret@db.example/relance?sslmode=require\n");
    let s = f.load(&[]).unwrap();
    let DatabaseUrl::Postgres(url) = &s.database else { panic!("{:?}", s.database) };
    assert_eq!(url.expose(), "postgres://relance:s3cret@db.example/relance?sslmode=require");

    let f = Fixture::new("[database]\nurl = \"mysql://u:pw@h/db\"\n", &[("acme", TENANT)]);
    let err = f.load(&[]).unwrap_err().to_string();
    assert!(err.contains("database.url") && err.contains("postgres://") && !err.contains("pw@"), "{err}");
    let f = Fixture::new("[database]\nurl = \"sqlite:other.db\"\n", &[("acme", TENANT)]);
    assert_eq!(f.load(&[]).unwrap().database, DatabaseUrl::Sqlite(f.dir.path().join("data/other.db")));
}
