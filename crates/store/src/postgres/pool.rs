//! PostgreSQL connections for the store (issue #17): a small pool, the
//! statements of [`crate::db::Db`] translated and prepared once per
//! connection, values converted both ways, and write transactions at
//! `SERIALIZABLE` retried on a conflict.

use std::error::Error;
use std::sync::Mutex;
use std::time::Duration;

use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{PgConn, PostgresUrl, dialect, message};
use crate::StoreError;
use crate::db::{Row, Value};

/// Idle connections kept.
const MAX_IDLE: usize = 8;
/// Runs of a write transaction the server aborted for a conflict.
const WRITE_ATTEMPTS: u32 = 8;

/// The store's PostgreSQL connections.
pub(crate) struct PgPool {
    url: PostgresUrl,
    idle: Mutex<Vec<PgConn>>,
}

impl PgPool {
    /// Connects once, migrates the schema, keeps the connection.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn open(url: &PostgresUrl) -> Result<PgPool, StoreError> {
        let mut conn = PgConn::connect(url)?;
        super::migrate_conn(&mut conn)?;
        Ok(PgPool { url: url.clone(), idle: Mutex::new(vec![conn]) })
    }

    fn take(&self) -> Result<PgConn, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) if !c.client.is_closed() => Ok(c),
            _ => PgConn::connect(&self.url),
        }
    }

    fn put(&self, conn: PgConn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` in a read-only transaction (one snapshot for all its statements).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&PgConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.take()?;
        conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let out = f(&conn);
        let end = conn.batch("ROLLBACK");
        self.put(conn);
        let out = out?;
        end?;
        Ok(out)
    }

    /// Runs `f` in a `SERIALIZABLE` transaction, committed when it
    /// succeeds; run again when the server aborts it for a conflict with a
    /// concurrent transaction (another daemon), at most [`WRITE_ATTEMPTS`] times.
    pub(crate) fn write<T>(&self, f: impl FnMut(&PgConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_at("BEGIN ISOLATION LEVEL SERIALIZABLE", f)
    }

    /// Runs `f` in a `READ COMMITTED` transaction, for a queue claimed with
    /// `FOR UPDATE … SKIP LOCKED` (the row locks keep claims apart; each
    /// statement reads what is committed when it runs), retried on a deadlock.
    pub(crate) fn write_queue<T>(&self, f: impl FnMut(&PgConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_at("BEGIN ISOLATION LEVEL READ COMMITTED", f)
    }

    fn write_at<T>(&self, begin: &str, mut f: impl FnMut(&PgConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.take()?;
        let mut attempt = 0;
        let out = loop {
            attempt += 1;
            if let Err(e) = conn.batch(begin) {
                break Err(e);
            }
            let done = f(&conn).and_then(|v| conn.batch("COMMIT").map(|()| v));
            match done {
                Ok(v) => break Ok(v),
                Err(e) => {
                    let _ = conn.batch("ROLLBACK");
                    if attempt < WRITE_ATTEMPTS && is_conflict(&e) {
                        std::thread::sleep(Duration::from_millis(5 << attempt));
                        continue;
                    }
                    break Err(e);
                }
            }
        };
        self.put(conn);
        out
    }
}

fn is_conflict(e: &StoreError) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(e, StoreError::Postgres(p) if p.code().is_some_and(|c|
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED))
}

impl PgConn {
    /// The statement for `sql` (SQLite's dialect), translated and prepared
    /// the first time this connection sees it.
    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        if let Some(st) = self.prepared.borrow().get(sql) {
            return Ok(st.clone());
        }
        let text = dialect::translate(sql)?;
        let st = self
            .runtime
            .block_on(self.client.prepare(&text))
            .map_err(|e| StoreError::Unsupported(format!("PostgreSQL cannot prepare `{text}`: {}", message(&e))))?;
        self.prepared.borrow_mut().insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    pub(crate) fn execute_sql(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(self.runtime.block_on(self.client.execute(&st, &params))?)
    }

    pub(crate) fn query_sql(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = self.runtime.block_on(self.client.query(&st, &params))?;
        let types: Vec<Type> = st.columns().iter().map(|c| c.type_().clone()).collect();
        rows.iter()
            .map(|r| {
                types.iter().enumerate().map(|(i, ty)| read_value(r, i, ty)).collect::<Result<Vec<_>, _>>().map(Row)
            })
            .collect()
    }
}

/// Reads one value by the column's type (the types the migrations use).
pub(crate) fn read_value(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<Value, StoreError> {
    let v = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(i64::from(v))),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(i64::from(v))),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(i64::from(v))),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(f64::from(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        ref other => {
            return Err(StoreError::Unsupported(format!(
                "column {} has type {other}, which the store does not read (cast it to BIGINT, DOUBLE PRECISION or TEXT)",
                row.columns().get(i).map(|c| c.name()).unwrap_or("?")
            )));
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

impl ToSql for Value {
    /// Writes the value as the parameter's type; a value of another storage
    /// class (text where PostgreSQL expects a number…) is refused, never
    /// converted silently (an integer may be written as a real).
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Value::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::BOOL) if *v == 0 || *v == 1 => (*v == 1).to_sql(ty, out),
            (Value::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => {
                s.as_str().to_sql(ty, out)
            }
            (Value::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (v, ty) => Err(format!("a value of class {} where PostgreSQL expects {ty}", v.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl PgConn {
    /// Writes `rows` into `table` (its `columns`, of `types`) with one
    /// binary `COPY … FROM STDIN`, in the caller's transaction: the bulk
    /// paths fill staging tables this way, then apply them with set-based
    /// statements. A value of another class than its column's type is
    /// refused, as a statement's argument is.
    pub(crate) fn copy_values(
        &self,
        table: &str,
        columns: &[&str],
        types: &[Type],
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        use tokio_postgres::binary_copy::BinaryCopyInWriter;
        let sql = format!("COPY {table} ({}) FROM STDIN BINARY", columns.join(", "));
        let client = &self.client;
        let done: Result<u64, tokio_postgres::Error> = self.runtime.block_on(async {
            let sink = client.copy_in(&sql).await?;
            let writer = BinaryCopyInWriter::new(sink, types);
            let mut writer = std::pin::pin!(writer);
            for row in rows {
                let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&values).await?;
            }
            writer.finish().await
        });
        Ok(done?)
    }
}
