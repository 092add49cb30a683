//! Notes: free text a person writes on a customer, optionally about one of
//! its invoices (what was said on the phone, what to watch). Each note names
//! its author and is an audit event; notes are never edited or deleted.

use serde::Serialize;
use serde_json::json;

use super::actions::{Acted, ActionRefusal, CursorPage, actor as check_actor, required};
use super::db::args;
use super::holds::{customer_exists, invoice_customer};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;

/// A note, for the API and the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    pub id: i64,
    pub customer_id: String,
    /// The invoice it is about, if any.
    pub invoice: Option<String>,
    pub text: String,
    pub created_by: String,
    pub created_at: String,
}

/// Longest note kept (characters).
pub const MAX_NOTE_CHARS: usize = 10_000;

impl Store {
    /// `actor` writes a note on `customer` (about `invoice`, which must be the
    /// customer's, when given).
    pub fn add_note(
        &self,
        tenant: &TenantId,
        customer: &str,
        invoice: Option<&str>,
        text: &str,
        actor: &str,
    ) -> Result<Acted<NoteView>, StoreError> {
        let t = tenant.as_str();
        let text = match required(text, "text") {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        if text.chars().count() > MAX_NOTE_CHARS {
            return Ok(Err(ActionRefusal::Invalid(format!("a note is at most {MAX_NOTE_CHARS} characters"))));
        }
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        self.db.write_any(|db| {
            if !customer_exists(db, t, customer)? {
                return Ok(Err(ActionRefusal::NotFound(format!("no customer {customer}"))));
            }
            let invoice = match invoice.map(str::trim).filter(|n| !n.is_empty()) {
                None => None,
                Some(n) => match invoice_customer(db, t, n)? {
                    Some((number, owner)) if owner == customer => Some(number),
                    Some((number, owner)) => {
                        return Ok(Err(ActionRefusal::Invalid(format!(
                            "invoice {number} is customer {owner}'s, not {customer}'s"
                        ))));
                    }
                    None => return Ok(Err(ActionRefusal::NotFound(format!("no invoice {n}")))),
                },
            };
            let now = now_text();
            let id: i64 = db
                .query_one(
                    "INSERT INTO notes (tenant_id, customer_id, invoice_number, text, created_by, created_at)
                     VALUES (?1,?2,?3,?4,?5,?6) RETURNING id",
                    args![t, customer, invoice, text, actor, now],
                )?
                .get(0)?;
            insert_event(
                db,
                t,
                actor,
                "note_added",
                &format!("customer:{customer}"),
                &json!({ "note": id, "invoice": invoice }),
            )?;
            Ok(Ok(NoteView {
                id,
                customer_id: customer.to_string(),
                invoice,
                text: text.clone(),
                created_by: actor.into(),
                created_at: now,
            }))
        })
    }

    /// A customer's notes, oldest first, after the cursor.
    pub fn notes(
        &self,
        tenant: &TenantId,
        customer: &str,
        after: i64,
        limit: u32,
    ) -> Result<CursorPage<NoteView>, StoreError> {
        self.db.read_any(|db| {
            let rows = db
                .query(
                    "SELECT id, customer_id, invoice_number, text, created_by, created_at FROM notes
                     WHERE tenant_id=?1 AND customer_id=?2 AND id>?3 ORDER BY id LIMIT ?4",
                    args![tenant.as_str(), customer, after, i64::from(limit) + 1],
                )?
                .iter()
                .map(|r| {
                    Ok(NoteView {
                        id: r.get(0)?,
                        customer_id: r.get(1)?,
                        invoice: r.get(2)?,
                        text: r.get(3)?,
                        created_by: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(CursorPage::of(rows, limit, |n| n.id))
        })
    }
}
