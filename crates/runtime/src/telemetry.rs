//! Structured logging setup: human-readable or JSON lines on stderr, filtered
//! by `RUST_LOG` or the configured level.
//!
//! Logged values often come from input (a quarantined CSV value, a mail
//! subject, a file name). The JSON format escapes them; the pretty format
//! does the same through [`escaped_fields`], so a value with a newline or an
//! ANSI escape sequence can never forge a log line or recolour a terminal.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;

use relance_config::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The mail libraries log every line they write at debug/trace level,
    // AUTH lines (passwords, OAuth2 bearer tokens) included: capped at info.
    // The PostgreSQL client logs every server notice at info (a migration's
    // "already exists, skipping", the warning of a rollback after a conflict
    // that the store retries): its own warnings and errors only.
    let filter = ["lettre=info", "async_imap=info", "tokio_postgres=warn"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, |f, d| f.add_directive(d));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().fmt_fields(escaped_fields()).try_init(),
    };
}

/// Field formatting of the pretty format: `message` then `name=value`
/// pairs, every control character of a value escaped (`\n`, `\r`, `\t`,
/// `\u{1b}`…).
pub fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        if field.name() != "message" {
            write!(w, "{}=", field.name())?;
        }
        for c in text.chars() {
            match c {
                '\n' => w.write_str("\\n")?,
                '\r' => w.write_str("\\r")?,
                '\t' => w.write_str("\\t")?,
                c if c.is_control() => write!(w, "{}", c.escape_unicode())?,
                c => w.write_char(c)?,
            }
        }
        Ok(())
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn input_in_a_pretty_log_line_cannot_forge_another_line() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .compact()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .fmt_fields(super::escaped_fields())
            .finish();
        let value = "ACME\n2026-11-29T10:00:00Z  INFO relance: payment applied\u{1b}[31m red";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(value = %value, line = 3, "row quarantined: {}", value);
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(
            out.contains("value=ACME\\n2026-11-29T10:00:00Z  INFO relance: payment applied\\u{1b}[31m red"),
            "{out}"
        );
        assert!(out.contains("row quarantined: ACME\\n"), "{out}");
        assert!(out.contains("line=3"), "{out}");
    }
}
