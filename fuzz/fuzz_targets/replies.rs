//! Reply understanding: MIME, new text, intent, dates, amounts and references
//! (`relance_engine::replies::understand`), the stored form of what it
//! understood (which the store must read back) and the reply-action policy.

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_engine::replies::{Understanding, actions};

fuzz_target!(|data: &[u8]| {
    // The day received (used when the message has no Date header) varies with the input.
    let day = data.first().map_or(0, |b| u64::from(*b));
    let received = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(day * 3);
    if let Ok(u) = relance_engine::replies::understand(data, received) {
        assert!((0.0..=1.0).contains(&u.confidence), "confidence {}", u.confidence);
        let stored = serde_json::to_string(&u).expect("an understanding serializes");
        let back: Understanding = serde_json::from_str(&stored).expect("a stored understanding reads back");
        assert_eq!((back.intent, &back.refs, back.promised_date), (u.intent, &u.refs, u.promised_date));
        let plan = actions::plan(&u, &actions::ReplyContext::default());
        assert!(!plan.actions.is_empty());
    }
});
