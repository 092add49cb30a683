//! Quarantined inputs as people handle them: the list (all, or only those
//! nobody handled yet), dismissing one (with a note) and asking for one to
//! be read again. Each handling is audited with the person and keeps the
//! row: a quarantined input is never deleted.
//!
//! Reading again is possible where the store can make the connector do it:
//! a held full export is released (`release_held_import`); a statement file
//! the parser rejected is forgotten as rejected, so its connector reads it
//! again at its next run if the file is still in its folder (after a parser
//! upgrade, say: the connector takes the request with
//! [`Store::take_statement_retries`]). A bad line of an invoice export has nothing to read again
//! by itself: the next export of the ERP is read anyway; such rows are
//! dismissed once fixed at the source.

use serde_json::json;

use super::actions::{Acted, ActionRefusal};
use super::db::{Db, args};
use super::sqlite::insert_event;
use super::{Page, Store, StoreError, Window, cut_page, now_text, parse_time};
use relance_domain::{QuarantineHandled, QuarantineHandling, QuarantineItem, TenantId};

/// Longest note kept with a handling.
pub const MAX_HANDLING_NOTE: usize = 2000;

impl Store {
    /// Quarantined inputs, oldest first; `after` is a quarantine id.
    pub fn quarantine(
        &self,
        tenant: &TenantId,
        page: impl Into<Window<i64>>,
    ) -> Result<Page<QuarantineItem, i64>, StoreError> {
        self.quarantine_list(tenant, false, page)
    }

    /// Quarantined inputs nobody handled yet (not dismissed, retried or released), oldest first.
    pub fn quarantine_open(
        &self,
        tenant: &TenantId,
        page: impl Into<Window<i64>>,
    ) -> Result<Page<QuarantineItem, i64>, StoreError> {
        self.quarantine_list(tenant, true, page)
    }

    fn quarantine_list(
        &self,
        tenant: &TenantId,
        open_only: bool,
        page: impl Into<Window<i64>>,
    ) -> Result<Page<QuarantineItem, i64>, StoreError> {
        let page = page.into();
        let offset = if page.after.is_some() { 0 } else { page.sql_offset() };
        let open = if open_only { " AND q.handled_at IS NULL AND q.released_at IS NULL" } else { "" };
        self.db.read_any(|db| {
            let total: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM quarantine q WHERE q.tenant_id=?1{open}"),
                    args![tenant.as_str()],
                )?
                .get(0)?;
            // Whether the item's import is held: one import per id, so 0 or 1 on both databases.
            let rows = db.query(
                &format!(
                    "SELECT q.id, q.source, q.item, q.line, q.column_name, q.reason, q.raw, q.raw_path, q.created_at,
                            q.released_at, (SELECT count(*) FROM imports i WHERE i.id=q.import_id AND i.state='held'),
                            q.handling, q.handled_at, q.handled_by, q.handling_note
                     FROM quarantine q WHERE q.tenant_id=?1{open} AND q.id > ?4 ORDER BY q.id LIMIT ?2 OFFSET ?3"
                ),
                args![tenant.as_str(), page.probe(), offset, page.after.unwrap_or(0)],
            )?;
            let items = rows
                .iter()
                .map(|r| {
                    let id: i64 = r.get(0)?;
                    let handled = match r.get::<Option<String>>(11)? {
                        Some(h) => {
                            let handling = QuarantineHandling::parse(&h)
                                .ok_or_else(|| StoreError::Corrupt(format!("quarantine {id}: handling `{h}`")))?;
                            let at: String = r.get(12)?;
                            Some(QuarantineHandled { handling, at: parse_time(&at)?, by: r.get(13)?, note: r.get(14)? })
                        }
                        None => None,
                    };
                    Ok(QuarantineItem {
                        id,
                        source: r.get(1)?,
                        item: r.get(2)?,
                        line: r.get::<Option<i64>>(3)?.and_then(|l| u64::try_from(l).ok()),
                        column: r.get(4)?,
                        reason: r.get(5)?,
                        raw: r.get(6)?,
                        raw_path: r.get(7)?,
                        created_at: parse_time(&r.get::<String>(8)?)?,
                        held: r.get(10)?,
                        released_at: r.get::<Option<String>>(9)?.as_deref().map(parse_time).transpose()?,
                        handled,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let (items, next_after) = cut_page(items, page.limit, |q: &QuarantineItem| q.id);
            Ok(Page {
                items,
                total: u64::try_from(total).unwrap_or(0),
                limit: page.limit,
                offset: u64::try_from(offset).unwrap_or(0),
                next_after,
            })
        })
    }

    /// Dismisses a quarantined input nobody handled yet: it stays, marked
    /// with who dismissed it and why.
    pub fn dismiss_quarantined(
        &self,
        tenant: &TenantId,
        id: i64,
        note: Option<&str>,
        actor: &str,
    ) -> Result<Acted<QuarantineHandled>, StoreError> {
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        if note.as_deref().is_some_and(|n| n.chars().count() > MAX_HANDLING_NOTE) {
            return Ok(Err(ActionRefusal::Invalid(format!("the note is longer than {MAX_HANDLING_NOTE} characters"))));
        }
        self.db.write_any(|db| {
            let t = tenant.as_str();
            if let Err(refusal) = open_item(db, t, id)? {
                return Ok(Err(refusal));
            }
            let now = now_text();
            db.execute(
                "UPDATE quarantine SET handling='dismissed', handled_at=?3, handled_by=?4, handling_note=?5
                 WHERE tenant_id=?1 AND id=?2",
                args![t, id, now, actor, note],
            )?;
            insert_event(db, t, actor, "quarantine_dismissed", &format!("quarantine:{id}"), &json!({ "note": note }))?;
            let at = parse_time(&now)?;
            Ok(Ok(QuarantineHandled {
                handling: QuarantineHandling::Dismissed,
                at,
                by: actor.to_string(),
                note: note.clone(),
            }))
        })
    }

    /// Asks for a quarantined input to be read again: a held export is
    /// released (as `release_held_import` does); a rejected statement file
    /// is forgotten as rejected, so its connector reads it again at its next
    /// run. Anything else is refused (409), saying why.
    pub fn retry_quarantined(&self, tenant: &TenantId, id: i64, actor: &str) -> Result<Acted<()>, StoreError> {
        let t = tenant.as_str();
        let held = self.db.write_any(|db| {
            let (held, source, item) = match open_item(db, t, id)? {
                Ok(found) => found,
                Err(refusal) => return Ok(Err(refusal)),
            };
            if held {
                return Ok(Ok(true));
            }
            let forgotten = db.execute(
                "DELETE FROM statement_files WHERE tenant_id=?1 AND source=?2 AND label=?3 AND format IS NULL",
                args![t, source, item],
            )?;
            if forgotten == 0 {
                return Ok(Err(ActionRefusal::Conflict(format!(
                    "quarantine item {id} cannot be read again by itself: fix it at the source (the next export \
                     or statement is read anyway), then dismiss it"
                ))));
            }
            db.execute(
                "UPDATE quarantine SET handling='retried', handled_at=?3, handled_by=?4 WHERE tenant_id=?1 AND id=?2",
                args![t, id, now_text(), actor],
            )?;
            let data = json!({ "source": source, "item": item });
            insert_event(db, t, actor, "quarantine_retried", &format!("quarantine:{id}"), &data)?;
            Ok(Ok(false))
        })?;
        match held {
            Err(refusal) => Ok(Err(refusal)),
            Ok(false) => Ok(Ok(())),
            Ok(true) => match self.release_held_import(tenant, id, actor) {
                Ok(_) => Ok(Ok(())),
                Err(StoreError::Rejected(why)) => Ok(Err(ActionRefusal::Conflict(why))),
                Err(other) => Err(other),
            },
        }
    }
}

impl Store {
    /// The files of `source` a person asked to read again since the last
    /// call (their quarantine `item`s), each given once: the connector
    /// forgets them as read and reads them at this run.
    pub fn take_statement_retries(&self, tenant: &TenantId, source: &str) -> Result<Vec<String>, StoreError> {
        self.db.write_any(|db| {
            let t = tenant.as_str();
            let rows = db
                .query(
                    "SELECT id, item FROM quarantine WHERE tenant_id=?1 AND source=?2 AND handling='retried'
                       AND retry_taken_at IS NULL ORDER BY id",
                    args![t, source],
                )?
                .iter()
                .map(|r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let now = now_text();
            for (id, _) in &rows {
                db.execute("UPDATE quarantine SET retry_taken_at=?3 WHERE tenant_id=?1 AND id=?2", args![t, id, now])?;
            }
            Ok(rows.into_iter().map(|(_, item)| item).collect())
        })
    }
}

/// The quarantined item `id` when nobody handled it yet: (held, source, item).
fn open_item(db: Db<'_>, tenant: &str, id: i64) -> Result<Acted<(bool, String, String)>, StoreError> {
    let row = db.query_opt(
        "SELECT q.source, q.item, q.handling, q.released_at,
                (SELECT count(*) FROM imports i WHERE i.id=q.import_id AND i.state='held')
         FROM quarantine q WHERE q.tenant_id=?1 AND q.id=?2",
        args![tenant, id],
    )?;
    let Some(r) = row else { return Ok(Err(ActionRefusal::NotFound(format!("no quarantine item {id}")))) };
    let (source, item, handling, released, held): (String, String, Option<String>, Option<String>, bool) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    Ok(match (handling, released) {
        (Some(h), _) => Err(ActionRefusal::Conflict(format!("quarantine item {id} is already {h}"))),
        (None, Some(_)) => Err(ActionRefusal::Conflict(format!("quarantine item {id} was released"))),
        (None, None) => Ok((held, source, item)),
    })
}
