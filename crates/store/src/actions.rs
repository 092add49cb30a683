//! What the manual actions of the collections team share (holds, disputes,
//! tasks, notes, approvals): the refusal of an action and the cursor page
//! of their lists.

use serde::Serialize;

/// Why a person's action is refused (the API answers 404, 409 or 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefusal {
    /// What the action is about does not exist (for this tenant).
    #[error("{0}")]
    NotFound(String),
    /// It exists but is not in a state the action applies to.
    #[error("{0}")]
    Conflict(String),
    /// The input does not make a valid action.
    #[error("{0}")]
    Invalid(String),
}

/// What a manual action returns: the stored result, or the refusal.
pub type Acted<T> = Result<T, ActionRefusal>;

/// One page of a list read with a cursor: pass `next_after` back as
/// `after` for the next page; `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CursorPage<T, C = i64> {
    pub items: Vec<T>,
    /// Give it as `after` for the next page; `null` on the last page.
    pub next_after: Option<C>,
}

impl<T> CursorPage<T, i64> {
    /// The page of `items` (read with one more than `limit` to know whether
    /// another page follows), whose cursor is `key`.
    pub(crate) fn of(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> CursorPage<T, i64> {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_after = if more { items.last().map(key) } else { None };
        CursorPage { items, next_after }
    }
}

/// A required text of an action (reason, note), trimmed; `Invalid` naming
/// `what` when empty.
pub(crate) fn required(text: &str, what: &str) -> Acted<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ActionRefusal::Invalid(format!("`{what}` must not be empty")));
    }
    Ok(t.to_string())
}

/// The actor of an action, refused when blank (every action names a person or a token).
pub(crate) fn actor(actor: &str) -> Acted<&str> {
    let a = actor.trim();
    if a.is_empty() {
        return Err(ActionRefusal::Invalid("an action needs an actor".into()));
    }
    Ok(a)
}
