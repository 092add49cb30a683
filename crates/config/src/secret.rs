//! Secret references in configuration values: `env:VAR` reads an environment
//! variable, `file:/path` reads a file (trailing newline removed, relative
//! paths from the file that names it); anything else is the literal value.

use std::path::Path;

pub fn resolve_secret(value: &str, base_dir: &Path) -> Result<String, String> {
    if let Some(var) = value.strip_prefix("env:") {
        return match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(v),
            Ok(_) => Err(format!("environment variable {var} is empty")),
            Err(_) => Err(format!("environment variable {var} is not set")),
        };
    }
    if let Some(p) = value.strip_prefix("file:") {
        let path = base_dir.join(p);
        return match std::fs::read_to_string(&path) {
            Ok(v) => {
                let v = v.trim_end_matches(['\n', '\r']).to_string();
                if v.is_empty() { Err(format!("secret file {} is empty", path.display())) } else { Ok(v) }
            }
            Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
        };
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_file_and_missing_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret-token\n").unwrap();
        assert_eq!(resolve_secret("plain", dir.path()), Ok("plain".into()));
        assert_eq!(resolve_secret("file:tok", dir.path()), Ok("s3cret-token".into()));
        assert!(resolve_secret("file:nope", dir.path()).unwrap_err().contains("cannot read secret file"));
        let err = resolve_secret("env:RELANCE_TEST_SURELY_UNSET_VAR", dir.path()).unwrap_err();
        assert!(err.contains("RELANCE_TEST_SURELY_UNSET_VAR is not set"), "{err}");
    }
}
