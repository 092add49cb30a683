//! One way to run a statement on either database (issue #17).
//!
//! A store method written against [`Db`] runs unchanged on SQLite and on
//! PostgreSQL: it passes its arguments as [`Value`]s (`args![…]`), reads
//! [`Row`]s with typed getters, and writes its SQL once, in SQLite's
//! dialect; on PostgreSQL the statement is rewritten once by
//! `postgres::dialect::translate` (which refuses what would not mean the
//! same) and prepared once per connection. [`Backend`] gives methods a
//! read connection or a write transaction of whichever database the store
//! was opened on: SQLite's single writer (`BEGIN IMMEDIATE`), or a
//! PostgreSQL `SERIALIZABLE` transaction retried when the server reports a
//! conflict (so a write closure may run more than once and must only
//! write through its `Db`).
//!
//! The port is incremental: [`Backend::read`] and [`Backend::write`] still
//! hand out rusqlite connections to the modules not ported yet, and refuse
//! on PostgreSQL, naming the issue.

use rusqlite::types::ValueRef;

use crate::StoreError;
use crate::postgres::PgPool;
use crate::sqlite::Sqlite;

/// One value, as both databases store it: SQLite's five storage classes,
/// PostgreSQL's `BIGINT`, `DOUBLE PRECISION`, `TEXT` and `BYTEA` (the types
/// the migrations use; see `postgres.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The storage class, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    pub(crate) fn from_sqlite(v: ValueRef<'_>) -> Result<Value, StoreError> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(
                std::str::from_utf8(t)
                    .map_err(|e| StoreError::Corrupt(format!("a text value is not UTF-8: {e}")))?
                    .to_owned(),
            ),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V, ValueRef as R};
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Owned(V::Real(*r)),
            Value::Text(t) => ToSqlOutput::Borrowed(R::Text(t.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(R::Blob(b)),
        })
    }
}

/// What an argument becomes.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, i16, u16, u8);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// `args![a, b, …]`: the arguments of a statement, as [`Value`]s.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::db::ToValue::to_value(&$x)),*][..]
    };
}
pub(crate) use args;

/// What a column becomes.
pub(crate) trait FromValue: Sized {
    fn from_value(v: Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<i64, String> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(format!("an integer expected, found {}", other.kind())),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<$t, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
int_from_value!(i32, u32, u64, usize);

impl FromValue for bool {
    fn from_value(v: Value) -> Result<bool, String> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<f64, String> {
        match v {
            Value::Real(r) => Ok(r),
            Value::Int(i) => Ok(i as f64),
            other => Err(format!("a real expected, found {}", other.kind())),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<String, String> {
        match v {
            Value::Text(t) => Ok(t),
            other => Err(format!("a text expected, found {}", other.kind())),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Vec<u8>, String> {
        match v {
            Value::Blob(b) => Ok(b),
            other => Err(format!("a blob expected, found {}", other.kind())),
        }
    }
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, String> {
        Ok(v)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A row of a result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i`, converted (an error names the column and the types).
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).cloned().ok_or_else(|| StoreError::Corrupt(format!("no column {i} in the row")))?;
        T::from_value(v).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }

    /// Column `i`, converted and moved out of the row (left `NULL`): reads a
    /// text without copying it.
    pub(crate) fn take<T: FromValue>(&mut self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get_mut(i).map(|v| std::mem::replace(v, Value::Null));
        let v = v.ok_or_else(|| StoreError::Corrupt(format!("no column {i} in the row")))?;
        T::from_value(v).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }
}

/// A connection or transaction of either database.
#[derive(Clone, Copy)]
pub(crate) enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a crate::postgres::PgConn),
}

impl<'a> From<&'a rusqlite::Connection> for Db<'a> {
    fn from(c: &'a rusqlite::Connection) -> Db<'a> {
        Db::Sqlite(c)
    }
}

impl<'a> From<&'a rusqlite::Transaction<'_>> for Db<'a> {
    fn from(tx: &'a rusqlite::Transaction<'_>) -> Db<'a> {
        Db::Sqlite(tx)
    }
}

impl Db<'_> {
    /// Whether this is PostgreSQL (for the few statements written twice).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs a statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args.iter()))? as u64),
            Db::Postgres(pg) => pg.execute_sql(sql, args),
        }
    }

    /// Every row of a query.
    pub(crate) fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(Row((0..n).map(|i| Value::from_sqlite(r.get_ref(i)?)).collect::<Result<_, _>>()?));
                }
                Ok(out)
            }
            Db::Postgres(pg) => pg.query_sql(sql, args),
        }
    }

    /// Calls `f` with each row of a query in turn, without keeping them: a
    /// large read (the matcher's million invoices) holds one row at a time on
    /// SQLite; PostgreSQL's rows arrive whole and are handed out one by one.
    pub(crate) fn query_each(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&mut Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
                let mut row = Row(Vec::with_capacity(n));
                while let Some(r) = rows.next()? {
                    row.0.clear();
                    for i in 0..n {
                        row.0.push(Value::from_sqlite(r.get_ref(i)?)?);
                    }
                    f(&mut row)?;
                }
                Ok(())
            }
            Db::Postgres(pg) => {
                for mut row in pg.query_sql(sql, args)? {
                    f(&mut row)?;
                }
                Ok(())
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row of a query, which must return one.
    pub(crate) fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?.ok_or_else(|| {
            let head: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(80).collect();
            StoreError::Corrupt(format!("no row from `{head}`"))
        })
    }
}

/// The database a store was opened on.
pub(crate) enum Backend {
    Sqlite(Sqlite),
    /// Opened by the tests of the ported methods only, until every method
    /// is ported and `Store::open` accepts PostgreSQL (issue #17).
    #[cfg_attr(not(test), allow(dead_code))]
    Postgres(PgPool),
}

/// Why a method not ported yet refuses PostgreSQL.
pub(crate) fn not_ported() -> StoreError {
    StoreError::Unsupported(
        "this part of the store does not run on PostgreSQL yet (issue #17); use `database.url = \"sqlite:…\"`".into(),
    )
}

impl Backend {
    /// A read connection, for methods written against [`Db`].
    pub(crate) fn read_any<T>(&self, f: impl FnOnce(Db<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.read(|c| f(Db::Sqlite(c))),
            Backend::Postgres(p) => p.read(|c| f(Db::Postgres(c))),
        }
    }

    /// A write transaction, for methods written against [`Db`]: committed
    /// when `f` succeeds; on PostgreSQL, run again (at most a few times)
    /// when the server reports a serialization conflict.
    pub(crate) fn write_any<T>(&self, mut f: impl FnMut(Db<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.write(|tx| f(Db::Sqlite(tx))),
            Backend::Postgres(p) => p.write(|c| f(Db::Postgres(c))),
        }
    }

    /// Whether the store is on PostgreSQL.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }

    /// A write transaction for claiming rows of a queue: SQLite's single
    /// writer; on PostgreSQL `READ COMMITTED`, the claim locking its rows
    /// `FOR UPDATE … SKIP LOCKED` so that daemons claiming at once take
    /// different rows without aborting each other (as `SERIALIZABLE` would
    /// under contention).
    pub(crate) fn write_queue<T>(&self, mut f: impl FnMut(Db<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.write(|tx| f(Db::Sqlite(tx))),
            Backend::Postgres(p) => p.write_queue(|c| f(Db::Postgres(c))),
        }
    }

    /// The SQLite read connection of a method not ported yet.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(_) => Err(not_ported()),
        }
    }

    /// The SQLite write transaction of a method not ported yet.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.write(f),
            Backend::Postgres(_) => Err(not_ported()),
        }
    }

    pub(crate) fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Backend::Sqlite(s) => s.with_writer(f),
            Backend::Postgres(_) => Err(not_ported()),
        }
    }

    pub(crate) fn release_memory(&self) {
        if let Backend::Sqlite(s) = self {
            s.release_memory();
        }
    }

    pub(crate) fn checkpoint(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite(s) => s.checkpoint(),
            Backend::Postgres(_) => Ok(()),
        }
    }
}

#[cfg(test)]
/// The stores a test of ported methods runs on: SQLite, and PostgreSQL
/// when the test server is there (a scratch schema, dropped with the
/// `Scratch`; keep it alive as long as the store).
pub(crate) fn both_backends(dir: &std::path::Path) -> Vec<(crate::Store, Option<crate::postgres::Scratch>)> {
    crate::testing::stores(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_in_and_come_back_typed_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c BLOB, d REAL)").unwrap();
        let db = Db::Sqlite(&conn);
        let none: Option<&str> = None;
        assert_eq!(
            db.execute("INSERT INTO t (a, b, c, d) VALUES (?1, ?2, ?3, ?4)", args!["x", 7u32, [1u8, 2][..], 0.5])
                .unwrap(),
            1
        );
        assert_eq!(db.execute("INSERT INTO t (a, b) VALUES (?1, ?2)", args![none, Some(-3i64)]).unwrap(), 1);
        let rows = db.query("SELECT a, b, c, d FROM t ORDER BY id", args![]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<String>(0).unwrap(), "x");
        assert_eq!(rows[0].get::<u32>(1).unwrap(), 7);
        assert_eq!(rows[0].get::<Vec<u8>>(2).unwrap(), vec![1, 2]);
        assert_eq!(rows[1].get::<Option<String>>(0).unwrap(), None);
        assert_eq!(rows[1].get::<i64>(1).unwrap(), -3);
        let e = rows[1].get::<u32>(1).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = rows[0].get::<i64>(0).unwrap_err().to_string();
        assert!(e.contains("an integer expected, found text"), "{e}");
        assert!(db.query_opt("SELECT a FROM t WHERE id = ?1", args![99]).unwrap().is_none());
        let mut first = rows[0].clone();
        assert_eq!(first.take::<String>(0).unwrap(), "x");
        assert_eq!(first.take::<Option<String>>(0).unwrap(), None, "taken");
        assert_eq!(first.take::<u32>(1).unwrap(), 7);
    }
}
