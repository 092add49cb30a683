use super::*;
use relance_domain::money::Currency;

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, day).unwrap()
}

fn b2b() -> Scenario {
    toml_scenario(include_str!("../../../../config/scenarios/b2b_standard.toml"))
}

fn toml_scenario(text: &str) -> Scenario {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap()
}

fn customer(invoices: &[(&str, NaiveDate, i64)]) -> CustomerState {
    CustomerState {
        customer_id: "C1".into(),
        invoices: invoices
            .iter()
            .map(|(n, due, open)| InvoiceState {
                issue_date: None,
                number: n.to_string(),
                due_date: *due,
                open: Money::new(*open, Currency::EUR),
                disputed: false,
            })
            .collect(),
        ..Default::default()
    }
}

fn cal() -> Calendar {
    Calendar::french(2026..=2027, &[])
}

/// Runs the engine day by day, applying its decisions; returns (date, step, invoices).
fn simulate(s: &Scenario, mut c: CustomerState, from: NaiveDate, days: i64) -> Vec<(NaiveDate, String, Vec<String>)> {
    let mut out = Vec::new();
    for n in 0..days {
        let today = from + Duration::days(n);
        if let Outcome::Send(dec) = decide(s, &cal(), &c, today) {
            c.sent.extend(dec.covers.iter().cloned());
            c.last_reminder = Some(today);
            out.push((today, dec.step.id.clone(), dec.invoices.clone()));
        }
    }
    out
}

#[test]
fn the_b2b_scenario_runs_its_steps_on_business_days() {
    // Due Friday 20 November 2026.
    let sent = simulate(&b2b(), customer(&[("F1", d(11, 20), 100_000)]), d(11, 1), 90);
    let steps: Vec<(NaiveDate, &str)> = sent.iter().map(|(d, s, _)| (*d, s.as_str())).collect();
    assert_eq!(
        steps,
        vec![
            (d(11, 16), "pre_due"),                                          // J-5 is Sunday 15 → Monday 16
            (d(11, 23), "courteous"),                                        // J+1 is Saturday 21 → Monday 23
            (d(11, 30), "firm"),                                             // J+8 is Saturday 28 → Monday 30
            (d(12, 7), "call"),                                              // J+15 is Saturday 5 → Monday 7
            (d(12, 21), "penalties"),                                        // J+30 is Sunday 20 → Monday 21
            (NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(), "formal_notice"), // J+45 is Monday 4 January 2027
            (NaiveDate::from_ymd_opt(2027, 1, 19).unwrap(), "handoff"),      // J+60 is Tuesday 19 January
        ]
    );
    assert!(sent.iter().all(|(day, _, _)| cal().is_business_day(*day)));
}

#[test]
fn overdue_invoices_are_grouped_in_one_message() {
    let mut c = customer(&[("F1", d(11, 2), 10_000), ("F2", d(11, 9), 20_000), ("F3", d(12, 31), 5_000)]);
    // F1 had its courteous reminder on 3 November; F2 has had nothing yet.
    c.sent.insert(("courteous".into(), "F1".into()));
    c.last_reminder = Some(d(11, 3));
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(11, 10)) else { panic!() };
    assert_eq!(dec.step.id, "firm", "the most escalated due step");
    assert_eq!(dec.invoices, vec!["F1", "F2"], "statement of account: overdue ones, not the future one");
    assert_eq!(dec.covers.len(), 2);
    assert!(dec.why.iter().any(|w| w.contains("statement of account")));
}

#[test]
fn a_promise_pauses_then_the_broken_promise_step_fires() {
    let mut c = customer(&[("F1", d(11, 2), 10_000)]);
    c.promise = Some(d(11, 20));
    let s = b2b();
    let Outcome::Wait { why } = decide(&s, &cal(), &c, d(11, 16)) else { panic!() };
    assert!(why.contains("promise to pay on 2026-11-20"), "{why}");
    assert!(matches!(decide(&s, &cal(), &c, d(11, 22)), Outcome::Wait { .. }), "within grace");
    let Outcome::Send(dec) = decide(&s, &cal(), &c, d(11, 23)) else { panic!() };
    assert_eq!(dec.step.id, "promise_broken");
    c.sent.extend(dec.covers);
    c.last_reminder = Some(d(11, 23));
    // Once only; then the scenario resumes after the gap.
    let after = simulate(&s, c, d(11, 24), 10);
    assert!(after.iter().all(|(_, step, _)| step != "promise_broken"));
    assert_eq!(after.first().map(|x| x.0), Some(d(11, 30)), "min gap of 5 days, then next business day");
}

#[test]
fn disputes_payments_and_plans_stop_reminders() {
    let s = b2b();
    let mut c = customer(&[("F1", d(11, 2), 10_000)]);
    c.invoices[0].disputed = true;
    let Outcome::Nothing { why } = decide(&s, &cal(), &c, d(11, 10)) else { panic!() };
    assert!(why.contains("disputed"), "{why}");
    let paid = customer(&[("F1", d(11, 2), 0)]);
    assert_eq!(decide(&s, &cal(), &paid, d(11, 10)), Outcome::Nothing { why: "nothing outstanding".into() });
    let mut plan = customer(&[("F1", d(11, 2), 10_000)]);
    plan.plan_active = true;
    assert!(matches!(decide(&s, &cal(), &plan, d(11, 10)), Outcome::Nothing { why } if why.contains("payment plan")));
}

#[test]
fn scenarios_apply_by_conditions() {
    let b2c = toml_scenario(include_str!("../../../../config/scenarios/b2c_sms.toml"));
    let mut c = customer(&[("F1", d(11, 2), 10_000)]);
    assert!(b2b().applies_to(&c) && !b2c.applies_to(&c));
    c.b2c = true;
    assert!(b2c.applies_to(&c) && !b2b().applies_to(&c));
    let Outcome::Send(dec) = decide(&b2c, &cal(), &c, d(11, 3)) else { panic!() };
    assert_eq!(dec.step.channel, Channel::Sms);
}

#[test]
fn an_old_debt_starts_at_the_first_overdue_step_and_climbs_one_step_at_a_time() {
    // Found 70 days overdue on the first run: no hand-off out of the blue.
    let sent = simulate(&b2b(), customer(&[("OLD", d(9, 14), 50_000)]), d(11, 23), 40);
    let steps: Vec<&str> = sent.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(steps, vec!["courteous", "firm", "call", "penalties", "formal_notice", "handoff"]);
    let gaps: Vec<i64> = sent.windows(2).map(|w| (w[1].0 - w[0].0).num_days()).collect();
    assert!(gaps.iter().all(|g| *g >= 5), "the minimum gap holds: {gaps:?}");
}

#[test]
fn an_invoice_left_out_of_a_message_keeps_its_step() {
    // F2's pre-due notice is due the same day as F1's firm reminder: the
    // firm reminder lists only overdue invoices, so F2 must still get its notice.
    let c = customer(&[("F1", d(11, 2), 10_000), ("F2", d(11, 14), 5_000)]);
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(11, 10)) else { panic!() };
    assert_eq!(dec.invoices, vec!["F1"]);
    assert!(!dec.covers.iter().any(|(_, n)| n == "F2"));
}

#[test]
fn the_open_total_of_a_scenario_condition_never_wraps() {
    // Two huge invoices wrapped the i64 sum to a small negative number, which
    // then met `max_open_minor` and picked the wrong scenario.
    let mut s = b2b();
    s.when.max_open_minor = Some(1_000_000);
    let huge = customer(&[("F1", d(11, 20), i64::MAX), ("F2", d(11, 20), i64::MAX)]);
    assert!(!s.applies_to(&huge), "2 × i64::MAX is above the maximum");
    s.when.max_open_minor = None;
    s.when.min_open_minor = Some(i64::MAX);
    assert!(s.applies_to(&huge), "2 × i64::MAX is above i64::MAX");
}

#[test]
fn a_scenario_condition_compares_each_currency_apart() {
    // 800.00 EUR and 700.00 USD: more than 1,000 in no currency.
    let mut s = b2b();
    s.when.min_open_minor = Some(100_000);
    let mut c = customer(&[("F1", d(11, 20), 80_000), ("F2", d(11, 20), 70_000)]);
    c.invoices[1].open = Money::new(70_000, relance_domain::money::Currency::parse("USD").unwrap());
    assert!(!s.applies_to(&c), "800 EUR + 700 USD is not 1,500 of anything");
    s.when.min_open_minor = Some(75_000);
    assert!(s.applies_to(&c), "800 EUR is at least 750");
    s.when.min_open_minor = None;
    s.when.max_open_minor = Some(75_000);
    assert!(!s.applies_to(&c), "at most 750 in every currency: not in EUR");
}

#[test]
fn the_shipped_scenarios_pass_the_load_check() {
    let t = templates::Templates::builtin();
    let b2c = toml_scenario(include_str!("../../../../config/scenarios/b2c_sms.toml"));
    for s in [b2b(), b2c] {
        assert_eq!(s.check(&t, &templates::LANGUAGES), vec![], "{}", s.description);
    }
}

#[test]
fn the_load_check_names_the_key_of_each_problem() {
    let s = toml_scenario(
        r#"
min_gap_days = -1
[[steps]]
id = "first"
offset_days = 10
channel = "email"
template = "courteous"
[[steps]]
id = "first"
offset_days = 5
channel = "email"
template = "courteous"
[[steps]]
id = "third"
offset_days = 99999
channel = "sms"
template = "no_such_template"
[promise_broken]
id = "invoice_copy"
offset_days = 0
channel = "email"
template = "promise_broken"
"#,
    );
    let problems = s.check(&templates::Templates::builtin(), &templates::LANGUAGES);
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "steps[1].id",
            "steps[2].offset_days",
            "steps[2].template",
            "promise_broken.id",
            "steps[1].offset_days",
            "min_gap_days"
        ],
        "{problems:?}"
    );
    assert!(problems[2].message.contains("unknown template `no_such_template` in fr, en"), "{problems:?}");
    // A template present in one language only is enough when the scenario is for that language.
    let mut t = templates::Templates::builtin();
    t.set(Language::Fr, "maison", "S\n---\nB");
    let mut only_fr = toml_scenario(
        "[[steps]]\nid = \"a\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"maison\"\n[when]\nlanguages = [\"fr\"]\n",
    );
    assert_eq!(only_fr.check(&t, &templates::LANGUAGES), vec![]);
    only_fr.when.languages.clear();
    let p = only_fr.check(&t, &templates::LANGUAGES);
    assert_eq!(p.len(), 1);
    assert!(p[0].key == "steps[0].template" && p[0].message.contains("`maison` in en"), "{p:?}");
    let empty = toml_scenario("steps = []\n");
    assert_eq!(empty.check(&t, &[Language::Fr])[0].key, "steps");
}

#[test]
fn an_out_of_office_postpones_the_next_step_to_the_business_day_after_the_return() {
    // Due Friday 30 October 2026: `courteous` is due on Monday 2 November. The
    // contact is back on Tuesday 10 November; Wednesday 11 is Armistice Day.
    let mut c = customer(&[("F1", d(10, 30), 100_000)]);
    c.away = Some(Away {
        address: "ap@client.example".into(),
        until: d(11, 10),
        reason: "out-of-office reply, message 7".into(),
    });
    assert_eq!(c.away.as_ref().unwrap().resume(&cal()), d(11, 12));
    let Outcome::Wait { why } = decide(&b2b(), &cal(), &c, d(11, 2)) else { panic!("sent while away") };
    assert_eq!(
        why,
        "ap@client.example is away until 2026-11-10 (out-of-office reply, message 7): `courteous` postponed to \
         2026-11-12, the business day after the return"
    );
    for day in [d(11, 10), d(11, 11)] {
        assert!(matches!(decide(&b2b(), &cal(), &c, day), Outcome::Wait { .. }), "{day}");
    }
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(11, 12)) else { panic!("not sent after the return") };
    assert_eq!(dec.step.id, "courteous", "the step postponed, not a later one: steps are taken in order");
    assert!(
        dec.why.contains(
            &"ap@client.example was away until 2026-11-10 (out-of-office reply, message 7): postponed to the \
              business day after the return"
                .to_string()
        ),
        "{:?}",
        dec.why
    );
    // Day by day: nothing goes before the 12th; once a reminder went, the absence is not repeated.
    let sent = simulate(&b2b(), c.clone(), d(11, 1), 30);
    assert_eq!(sent.first().map(|s| s.0), Some(d(11, 12)), "{sent:?}");
    c.last_reminder = Some(d(11, 12));
    c.sent.insert(("courteous".into(), "F1".into()));
    c.sent.insert(("firm".into(), "F1".into()));
    if let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(12, 1)) {
        assert!(dec.why.iter().all(|w| !w.contains("away")), "{:?}", dec.why);
    }
    // Without an absence the same customer hears on 2 November.
    let plain = customer(&[("F1", d(10, 30), 100_000)]);
    assert!(matches!(decide(&b2b(), &cal(), &plain, d(11, 2)), Outcome::Send(_)));
}

#[test]
fn a_broken_promise_also_waits_for_the_return() {
    let mut c = customer(&[("F1", d(10, 30), 100_000)]);
    c.promise = Some(d(11, 2));
    c.sent.insert(("courteous".into(), "F1".into()));
    c.sent.insert(("firm".into(), "F1".into()));
    c.away = Some(Away { address: "ap@client.example".into(), until: d(11, 13), reason: "message 9".into() });
    // Grace ends on the 4th; back Friday the 13th: Monday the 16th.
    assert!(
        matches!(decide(&b2b(), &cal(), &c, d(11, 5)), Outcome::Wait { ref why } if why.contains("postponed to 2026-11-16"))
    );
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(11, 16)) else { panic!() };
    assert_eq!(dec.step.id, "promise_broken");
    assert!(dec.why.iter().any(|w| w.contains("was away until 2026-11-13 (message 9)")), "{:?}", dec.why);
}

#[test]
fn an_accepted_plan_pauses_its_invoices_until_an_instalment_is_missed() {
    use plan::{AgreedPlan, Instalment, PlanStatus};
    // F1 due 2 November (1 200 €), F2 due 9 November, not in the plan.
    let mut c = customer(&[("F1", d(11, 2), 120_000), ("F2", d(11, 9), 10_000)]);
    c.plan = Some(AgreedPlan {
        id: 3,
        status: PlanStatus::Accepted,
        invoices: vec!["F1".into()],
        instalments: vec![
            Instalment { due: d(11, 20), amount: Money::new(50_000, Currency::EUR) },
            Instalment { due: d(12, 10), amount: Money::new(70_000, Currency::EUR) },
        ],
        paid: Money::new(50_000, Currency::EUR),
    });
    // On Wednesday 25 November the first instalment is paid: F1 is paused, F2 is reminded.
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(11, 25)) else { panic!("F2 is due") };
    assert_eq!(dec.invoices, vec!["F2".to_string()]);
    assert!(dec.why[0].contains("payment plan #3") && dec.why[0].contains("on track"), "{:?}", dec.why);
    // Without F2, nothing is sent and the plan says why.
    c.invoices.retain(|i| i.number == "F1");
    match decide(&b2b(), &cal(), &c, d(11, 25)) {
        Outcome::Nothing { why } => assert!(why.contains("next instalment 2 of 700.00 EUR due 2026-12-10"), "{why}"),
        other => panic!("expected nothing, got {other:?}"),
    }
    // Within the grace of the second instalment: still paused.
    assert!(matches!(decide(&b2b(), &cal(), &c, d(12, 11)), Outcome::Nothing { .. }));
    // Monday 14 December: the second instalment is unpaid past its grace; reminders resume.
    let Outcome::Send(dec) = decide(&b2b(), &cal(), &c, d(12, 14)) else { panic!("the plan is missed") };
    assert_eq!(dec.invoices, vec!["F1".to_string()]);
    assert!(dec.why[0].contains("instalment 2 of 700.00 EUR due 2026-12-10"), "{:?}", dec.why);
    // Once paid in full, the plan says nothing more (and nothing is owed).
    if let Some(p) = c.plan.as_mut() {
        p.paid = Money::new(120_000, Currency::EUR);
    }
    c.invoices[0].open = Money::new(0, Currency::EUR);
    assert_eq!(decide(&b2b(), &cal(), &c, d(12, 14)), Outcome::Nothing { why: "nothing outstanding".into() });
}

fn held(id: i64, invoice: Option<&str>, until: Option<NaiveDate>) -> hold::Hold {
    hold::Hold {
        id,
        invoice: invoice.map(String::from),
        reason: "le client conteste la livraison".into(),
        until,
        by: "user:alice".into(),
        kind: hold::HoldKind::Manual,
        payment: None,
    }
}

#[test]
fn a_customer_hold_stops_every_step_until_its_day_then_they_resume() {
    // Due Friday 20 November 2026: `courteous` is due on Monday 23.
    let mut c = customer(&[("F1", d(11, 20), 100_000)]);
    c.holds = vec![held(7, None, Some(d(11, 30)))];
    match decide(&b2b(), &cal(), &c, d(11, 23)) {
        Outcome::Nothing { why } => {
            assert!(why.contains("hold #7") && why.contains("until 2026-11-30") && why.contains("user:alice"), "{why}")
        }
        other => panic!("held: {other:?}"),
    }
    // Through its until day, then the step goes the next business day.
    assert!(matches!(decide(&b2b(), &cal(), &c, d(11, 30)), Outcome::Nothing { .. }));
    match decide(&b2b(), &cal(), &c, d(12, 1)) {
        Outcome::Send(dec) => {
            assert_eq!(dec.step.id, "courteous");
            assert!(!dec.why.iter().any(|w| w.contains("hold")), "an expired hold says nothing: {:?}", dec.why);
        }
        other => panic!("after the hold: {other:?}"),
    }
    // Without a date it holds until lifted (the store drops lifted holds).
    c.holds = vec![held(8, None, None)];
    assert!(simulate(&b2b(), c.clone(), d(11, 1), 120).is_empty());
    c.holds.clear();
    assert!(!simulate(&b2b(), c, d(11, 1), 120).is_empty());
}

#[test]
fn an_invoice_hold_leaves_that_invoice_out_of_the_messages_and_says_why() {
    let mut c = customer(&[("F1", d(11, 20), 100_000), ("F2", d(11, 20), 50_000)]);
    c.holds = vec![held(3, Some("f2"), None)];
    match decide(&b2b(), &cal(), &c, d(11, 23)) {
        Outcome::Send(dec) => {
            assert_eq!(dec.invoices, ["F1"], "the held invoice is not listed");
            assert_eq!(dec.covers, [("courteous".to_string(), "F1".to_string())], "nor does it take the step");
            assert!(dec.why[0].starts_with("reminders held for invoice f2"), "{:?}", dec.why);
        }
        other => panic!("{other:?}"),
    }
    // Holding the only open invoice: nothing, with the hold as the reason.
    c.invoices.truncate(1);
    c.holds = vec![held(4, Some("F1"), None)];
    match decide(&b2b(), &cal(), &c, d(11, 23)) {
        Outcome::Nothing { why } => assert!(why.contains("hold #4"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_resolved_dispute_lets_the_invoice_take_its_steps_again() {
    // Disputed: nothing. Once the store records the resolution the invoice
    // is no longer disputed and takes its next step, in order.
    let mut c = customer(&[("F1", d(11, 20), 100_000)]);
    c.invoices[0].disputed = true;
    match decide(&b2b(), &cal(), &c, d(12, 7)) {
        Outcome::Nothing { why } => assert!(why.contains("disputed"), "{why}"),
        other => panic!("{other:?}"),
    }
    c.invoices[0].disputed = false;
    match decide(&b2b(), &cal(), &c, d(12, 7)) {
        Outcome::Send(dec) => assert_eq!(dec.step.id, "courteous", "never a later step first"),
        other => panic!("{other:?}"),
    }
    // Resolved as "credit note expected": the store places a hold instead.
    c.holds = vec![held(9, Some("F1"), None)];
    assert!(matches!(decide(&b2b(), &cal(), &c, d(12, 7)), Outcome::Nothing { .. }));
}

#[test]
fn formal_notices_and_hand_offs_wait_for_approval_unless_the_step_says_otherwise() {
    let s = b2b();
    let confirm: Vec<(&str, bool)> = s.steps.iter().map(|s| (s.id.as_str(), s.needs_confirmation())).collect();
    assert_eq!(
        confirm,
        [
            ("pre_due", false),
            ("courteous", false),
            ("firm", false),
            ("call", false),
            ("penalties", false),
            ("formal_notice", true),
            ("handoff", true)
        ]
    );
    let custom = toml_scenario(
        "[[steps]]\nid = \"notice\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"formal_notice\"\nconfirm = false\n\
         [[steps]]\nid = \"firm\"\noffset_days = 5\nchannel = \"email\"\ntemplate = \"firm\"\nconfirm = true\n",
    );
    assert!(!custom.steps[0].needs_confirmation() && custom.steps[1].needs_confirmation());
}

#[test]
fn a_credit_awaiting_review_that_could_pay_holds_the_reminder_and_says_why() {
    use super::credit::{PayerEvidence, PendingCredit};
    let mut c = customer(&[("F1", d(11, 2), 50_000), ("F2", d(11, 2), 80_000)]);
    let Outcome::Send(sent) = decide(&b2b(), &cal(), &c, d(11, 16)) else { panic!("a reminder is due") };
    let credit = |id: i64, minor: i64, ccy: Currency| PendingCredit {
        payment_id: id,
        amount: Money::new(minor, ccy),
        booked: d(11, 12),
        evidence: PayerEvidence::KnownIban("FR7630006000011234567890189".into()),
    };
    // Too small for any invoice, or in another currency: the reminder goes.
    c.credits = vec![credit(7, 49_999, Currency::EUR), credit(8, 900_000, Currency::parse("USD").unwrap())];
    assert_eq!(decide(&b2b(), &cal(), &c, d(11, 16)), Outcome::Send(sent.clone()));
    // Enough for F1: held, naming the credit and the step.
    c.credits.push(credit(9, 50_000, Currency::EUR));
    let Outcome::Held { why, credits } = decide(&b2b(), &cal(), &c, d(11, 16)) else { panic!("held") };
    assert_eq!(credits, [9]);
    assert!(why.starts_with("credit #9 of 500.00 EUR booked 2026-11-12 (from the customer's account FR76"), "{why}");
    assert!(why.ends_with(&format!("`{}` about F1, F2 held", sent.step.id)), "{why}");
    // Nothing due: a pending credit changes nothing.
    assert!(matches!(decide(&b2b(), &cal(), &c, d(10, 1)), Outcome::Nothing { .. }));
}
