//! States of the reply side: inbound messages, promises to pay and tasks for
//! a person. Each is an enum whose text form (`as_str`, [`FromStr`], serde)
//! is the one stored in the database, where a `CHECK` constraint refuses any
//! other value (migration `0009_reply_states.sql`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A text that names no state of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownState {
    /// What was being read (`message status`, `promise status`…).
    pub kind: &'static str,
    pub value: String,
}

macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState { kind: $kind, value: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum!(
    /// Where a message read from a collections mailbox stands.
    MessageStatus, "message status", {
        /// Its raw copy is kept and recorded; not understood yet.
        Stored => "stored",
        /// Understood, and what it calls for was done.
        Handled => "handled",
        /// Understood with too little confidence (or saying nothing known): a person reads it.
        Review => "review",
        /// Unreadable, too large or malformed: kept aside for a person, nothing done.
        Quarantined => "quarantined",
    }
);

state_enum!(
    /// Where a promise to pay stands.
    PromiseStatus, "promise status", {
        /// Its date (plus the grace) has not passed and something is still open.
        Pending => "pending",
        /// Everything it covers was paid.
        Kept => "kept",
        /// Its date plus the grace passed with something still open.
        Broken => "broken",
        /// It could not be checked (no invoice, no customer) and its date passed.
        Lapsed => "lapsed",
        /// Read from a reply a person then corrected: it was never promised.
        Cancelled => "cancelled",
    }
);

state_enum!(
    /// Where a task for a person stands.
    TaskStatus, "task status", {
        Open => "open",
        Done => "done",
    }
);

state_enum!(
    /// What a task for a person is about.
    TaskKind, "task kind", {
        /// The customer disputes invoices.
        Dispute => "dispute",
        /// The customer says it paid and no matching credit was found: ask for the proof.
        AwaitingProof => "awaiting_proof",
        /// The customer says it paid and candidate credits wait in the review queue.
        CheckPayment => "check_payment",
        /// The customer asks to pay in instalments.
        PaymentPlan => "payment_plan",
        /// A reminder could not be delivered: the contact needs fixing.
        Contact => "contact",
        /// A scenario step asks for a phone call.
        Call => "call",
        /// Created by a person (a follow-up to do by hand).
        FollowUp => "follow_up",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text_and_serde_agrees() {
        fn round_trip<T>(all: &[T])
        where
            T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownState> + Serialize,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().as_ref(), Ok(v));
                assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::String(text)));
            }
        }
        round_trip(MessageStatus::ALL);
        round_trip(PromiseStatus::ALL);
        round_trip(TaskStatus::ALL);
        round_trip(TaskKind::ALL);
        assert_eq!(TaskKind::AwaitingProof.as_str(), "awaiting_proof");
    }

    #[test]
    fn an_unknown_text_is_an_error_naming_it() {
        let e = "Handled".parse::<MessageStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown message status `Handled`");
        assert!("".parse::<PromiseStatus>().is_err());
        assert!("closed".parse::<TaskStatus>().is_err());
    }
}
