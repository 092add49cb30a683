//! Stores for tests, on both databases (compiled for the store's own tests
//! and, with the `testing` feature, for the crates above it).
//!
//! [`stores`] gives an SQLite store and, when the test PostgreSQL server is
//! configured (`TEST_PG_URL`, which scripts/test.sh sets), a store in a
//! fresh schema of its own on it ([`ScratchSchema`], dropped with the
//! value). Without `TEST_PG_URL` the PostgreSQL part is left out with a
//! note, unless `RELANCE_TEST_SERVERS=required` (scripts/test.sh), where
//! that is a failure.

use std::path::Path;

use crate::postgres::PgConn;
use crate::{PostgresUrl, Store};

/// The test server's URL, or `None` (with a note) when there is none.
pub(crate) fn server_url() -> Option<String> {
    match std::env::var("TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("RELANCE_TEST_SERVERS").as_deref() == Ok("required") {
                panic!(
                    "PostgreSQL test: the test servers are required (RELANCE_TEST_SERVERS=required) but TEST_PG_URL is not set"
                );
            }
            eprintln!("note: PostgreSQL test skipped: no TEST_PG_URL (run scripts/test.sh, which starts the servers)");
            None
        }
    }
}

/// A schema of its own on the test server, dropped with the value.
pub struct ScratchSchema {
    admin: PgConn,
    pub(crate) name: String,
    /// The server's URL with the schema as its search path.
    pub url: PostgresUrl,
}

impl ScratchSchema {
    /// A scratch schema on `TEST_PG_URL`, or `None` (with a note) when
    /// there is no test server (an error under `RELANCE_TEST_SERVERS=required`).
    pub fn for_test() -> Option<ScratchSchema> {
        server_url().map(|base| ScratchSchema::new(&base))
    }

    pub(crate) fn new(base: &str) -> ScratchSchema {
        let base_url = PostgresUrl::parse(base).expect("TEST_PG_URL is a PostgreSQL URL");
        let admin = PgConn::connect(&base_url).expect("connect to TEST_PG_URL");
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).expect("random bytes");
        let name = format!("relance_schema_test_{}", hex::encode(random));
        admin.batch(&format!("CREATE SCHEMA {name}")).expect("create the test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = PostgresUrl::parse(&format!("{base}{sep}options=-c%20search_path%3D{name}")).expect("scratch URL");
        ScratchSchema { admin, name, url }
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        if let Err(e) = self.admin.batch(&format!("DROP SCHEMA {} CASCADE", self.name)) {
            eprintln!("cannot drop test schema {}: {e}", self.name);
        }
    }
}

/// An SQLite store in `dir` and, with the test server, one on PostgreSQL
/// (keep the schema alive with its store).
pub fn stores(dir: &Path) -> Vec<(Store, Option<ScratchSchema>)> {
    let mut out = vec![(Store::open_sqlite(&dir.join("both.db")).expect("open the SQLite store"), None)];
    if let Some(scratch) = ScratchSchema::for_test() {
        out.push((Store::open_postgres(&scratch.url).expect("open the PostgreSQL store"), Some(scratch)));
    }
    out
}
