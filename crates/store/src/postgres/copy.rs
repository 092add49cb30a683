//! The PostgreSQL side of `store copy` (`crate::copy`): rows read through a
//! server-side cursor in batches, written with binary `COPY … FROM STDIN`,
//! identity sequences moved past the copied ids.

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::PgConn;
use super::pool::read_value;
use crate::StoreError;
use crate::copy::{BATCH_ROWS, Cell, RowSink, TableSpec, in_table, quote};

impl PgConn {
    pub(crate) fn count(&mut self, t: &TableSpec) -> Result<u64, StoreError> {
        let rows = self.query(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)), &[])?;
        let n: i64 = match rows.first() {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }

    /// The column types of a table, in `t.columns`' order.
    fn column_types(&mut self, t: &TableSpec) -> Result<Vec<Type>, StoreError> {
        let sql = format!("SELECT {} FROM {} LIMIT 0", t.column_list(), quote(&t.name));
        let st = self.runtime.block_on(self.client.prepare(&sql)).map_err(|e| in_table(t, e.into()))?;
        Ok(st.columns().iter().map(|c| c.type_().clone()).collect())
    }

    /// Calls `f` with the table's rows, [`BATCH_ROWS`] at a time, through a
    /// cursor (inside the caller's transaction).
    pub(crate) fn scan(&mut self, t: &TableSpec, f: &mut RowSink<'_>) -> Result<(), StoreError> {
        let types = self.column_types(t)?;
        self.batch(&format!(
            "DECLARE relance_copy NO SCROLL CURSOR FOR SELECT {} FROM {}",
            t.column_list(),
            quote(&t.name)
        ))?;
        loop {
            let rows = self.query(&format!("FETCH {BATCH_ROWS} FROM relance_copy"), &[])?;
            if rows.is_empty() {
                break;
            }
            let batch = rows
                .iter()
                .map(|r| types.iter().enumerate().map(|(i, ty)| read_value(r, i, ty)).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| in_table(t, e))?;
            f(&batch)?;
        }
        self.batch("CLOSE relance_copy")
    }

    /// Writes rows with one binary `COPY`.
    pub(crate) fn copy_in(&mut self, t: &TableSpec, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        let types = self.column_types(t)?;
        let sql = format!("COPY {} ({}) FROM STDIN BINARY", quote(&t.name), t.column_list());
        let client = &self.client;
        let done: Result<u64, tokio_postgres::Error> = self.runtime.block_on(async {
            let sink = client.copy_in(&sql).await?;
            let writer = BinaryCopyInWriter::new(sink, &types);
            let mut writer = std::pin::pin!(writer);
            for row in rows {
                let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&values).await?;
            }
            writer.finish().await
        });
        done.map_err(|e| in_table(t, e.into()))?;
        Ok(())
    }

    /// Moves each identity column's sequence past the largest copied value,
    /// so that the next row the store inserts gets a new id.
    pub(crate) fn reset_identities(&mut self, t: &TableSpec) -> Result<(), StoreError> {
        let identities = self.query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
            &[&t.name],
        )?;
        for r in identities {
            let column: String = r.try_get(0)?;
            self.query(
                &format!(
                    "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST(MAX({c}), 1), MAX({c}) IS NOT NULL) FROM {t}",
                    c = quote(&column),
                    t = quote(&t.name)
                ),
                &[&quote(&t.name), &column],
            )
            .map_err(|e| in_table(t, e))?;
        }
        Ok(())
    }
}
