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
    assert!(
        err.contains("beta.toml: key `connectors.x.kind`: unknown connector kind `ftp_magic` (known: csv_invoices, bank_statements, file_writeback)"),
        "{err}"
    );
}
