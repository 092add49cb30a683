//! People of a tenant who use the web workspace, and what each role may do.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a person may do in the workspace. Machines use API tokens instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything a collector does, and sees the tenant's people.
    Admin,
    /// Reviews payments and replies, approves reminders, holds, notes, tasks.
    Collector,
    /// Sees every page, acts on nothing.
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Collector, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Collector => "collector",
            Role::ReadOnly => "read_only",
        }
    }

    /// Whether this role may change anything (accept, approve, hold…).
    pub fn can_act(self) -> bool {
        !matches!(self, Role::ReadOnly)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected admin, collector or read_only)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "admin" => Ok(Role::Admin),
            "collector" => Ok(Role::Collector),
            "read_only" | "readonly" | "viewer" => Ok(Role::ReadOnly),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_only_read_only_cannot_act() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("read-only".parse::<Role>(), Ok(Role::ReadOnly));
        assert!("boss".parse::<Role>().is_err());
        assert!(Role::Admin.can_act() && Role::Collector.can_act() && !Role::ReadOnly.can_act());
    }
}
