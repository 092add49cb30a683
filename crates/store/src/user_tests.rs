//! Users, lock-out and sessions (migration 0015), on both databases.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use relance_domain::users::Role;
use relance_domain::{Language, TenantId};

/// Runs `check` on a fresh SQLite store and, when the test server is there, a PostgreSQL one.
fn on_both(check: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        check(&store);
    }
}

fn alice() -> NewUser {
    NewUser { name: "alice".into(), role: Role::Collector, password_hash: "$argon2id$x".into(), language: None }
}

#[test]
fn users_are_refreshed_only_when_they_change_and_stay_in_their_tenant() {
    on_both(|s| {
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        assert!(s.upsert_user(&a, &alice(), UserSource::Config, "config").unwrap());
        assert!(!s.upsert_user(&a, &alice(), UserSource::Config, "config").unwrap(), "same user: no change");
        let admin = NewUser { role: Role::Admin, ..alice() };
        assert!(s.upsert_user(&a, &admin, UserSource::Config, "config").unwrap());
        assert_eq!(s.user(&a, "alice").unwrap().unwrap().role, Role::Admin);
        assert!(s.user(&b, "alice").unwrap().is_none(), "another tenant has no alice");
        let listed = s.users(&a).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].source, UserSource::Config);
        let bob = NewUser { name: "Bob".into(), ..alice() };
        s.upsert_user(&a, &bob, UserSource::Cli, "cli").unwrap();
        let names: Vec<String> = s.users(&a).unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["Bob", "alice"], "by name, byte-wise on both databases");
    });
}

#[test]
fn repeated_failures_lock_and_a_login_clears_them() {
    on_both(|s| {
        let t = TenantId::new("a").unwrap();
        s.upsert_user(&t, &alice(), UserSource::Cli, "cli").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        for i in 1..5 {
            assert_eq!(s.record_login_failure(&t, "alice", now, 5, Duration::minutes(15), "127.0.0.1").unwrap(), None);
            assert_eq!(s.user(&t, "alice").unwrap().unwrap().failed_logins, i);
        }
        let until = s.record_login_failure(&t, "alice", now, 5, Duration::minutes(15), "127.0.0.1").unwrap();
        assert_eq!(until, Some(now + Duration::minutes(15)));
        let u = s.user(&t, "alice").unwrap().unwrap();
        assert_eq!((u.failed_logins, u.locked_until), (0, until));
        // An unknown user counts nothing and locks nothing.
        assert_eq!(s.record_login_failure(&t, "mallory", now, 1, Duration::minutes(15), "x").unwrap(), None);

        let session = NewSession {
            id_hash: "h1".into(),
            tenant: t.clone(),
            user: "alice".into(),
            csrf: "c1".into(),
            language: Language::En,
            expires_at: Utc::now() + Duration::hours(8),
        };
        s.open_session(&session, "127.0.0.1").unwrap();
        assert_eq!(s.user(&t, "alice").unwrap().unwrap().locked_until, None);
        let got = s.session("h1", Utc::now()).unwrap().unwrap();
        assert_eq!((got.user.as_str(), got.role, got.csrf.as_str()), ("alice", Role::Collector, "c1"));
        assert!(s.session("h1", Utc::now() + Duration::hours(9)).unwrap().is_none(), "expired");
        assert!(s.session("other", Utc::now()).unwrap().is_none());
        s.set_session_language("h1", Language::Fr).unwrap();
        assert_eq!(s.session("h1", Utc::now()).unwrap().unwrap().language, Language::Fr);
        s.close_session("h1").unwrap();
        assert!(s.session("h1", Utc::now()).unwrap().is_none(), "logged out");
        let kinds: Vec<String> = s.events(&t, 0, 100).unwrap().into_iter().map(|e| e.kind).collect();
        for k in ["user_added", "login_failed", "login_locked", "login", "logout"] {
            assert!(kinds.iter().any(|x| x == k), "{k} audited: {kinds:?}");
        }
    });
}
