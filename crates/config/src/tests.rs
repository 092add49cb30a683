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
