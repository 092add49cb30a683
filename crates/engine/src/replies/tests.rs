use super::*;

/// The day the test messages are received (they carry a `Date:` header, which wins).
const RECEIVED: NaiveDate = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();

/// [`super::understand`] of a message received on [`RECEIVED`].
fn understand(raw: &[u8]) -> Result<Understanding, ReplyError> {
    super::understand(raw, RECEIVED)
}

fn msg(headers: &str, body: &str) -> Vec<u8> {
    format!("From: client@example.com\r\nTo: ar@supplier.example\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").into_bytes()
}

#[test]
fn quoted_history_is_not_the_customers_text() {
    let body = "Bonjour,\nNous procéderons au virement le 20 octobre.\nCordialement,\n\nLe mar. 6 oct. 2026 à 08:30, Compta <c@x.example> a écrit :\n> Nous n'avons pas reçu le règlement. En cas de désaccord, indiquez le motif.\n";
    assert_eq!(new_text(body), "Bonjour,\nNous procéderons au virement le 20 octobre.\nCordialement,");
    let outlook = "We paid this on 2 October.\n\n________________________________\nFrom: Credit Control <cc@x.example>\nSent: Tuesday, October 6, 2026 8:30 AM\nSubject: reminder\n\nPlease pay or tell us why you dispute.";
    assert_eq!(new_text(outlook), "We paid this on 2 October.");
    let original = "ok pour vendredi\n-----Message d'origine-----\nDe : X\nEnvoyé : mardi\nObjet : Relance";
    assert_eq!(new_text(original), "ok pour vendredi");
}

#[test]
fn intents_in_french_and_english() {
    let cases = [
        ("Nous procéderons au virement le 20 octobre.", Intent::PromiseToPay),
        ("Nous contestons cette facture : la livraison était incomplète.", Intent::Dispute),
        ("Le prix ne correspond pas au devis. Nous ne réglerons pas en l'état.", Intent::Dispute),
        ("Cette facture a été réglée par virement le 30 septembre.", Intent::AlreadyPaid),
        ("Pourriez-vous nous la renvoyer en PDF ?", Intent::InvoiceCopyRequest),
        ("Pouvons-nous convenir d'un échéancier ?", Intent::PaymentPlanRequest),
        ("We'll settle the balance next Wednesday.", Intent::PromiseToPay),
        ("We won't pay INV-1 until this is corrected.", Intent::Dispute),
        ("This invoice is wrong, please send a corrected invoice.", Intent::Dispute),
        ("Could you resend INV-55300?", Intent::InvoiceCopyRequest),
        ("We paid this on 2 October by bank transfer.", Intent::AlreadyPaid),
        ("Could we split INV-55400 into four monthly instalments?", Intent::PaymentPlanRequest),
        ("Who is my contact for account questions now?", Intent::Other),
        ("The transfer for INV-9 has been scheduled for Friday.", Intent::PromiseToPay),
        ("Le virement de la facture FAC-1 est programmé pour le 30.", Intent::PromiseToPay),
    ];
    for (text, want) in cases {
        let u = understand(&msg("Subject: RE: reminder\r\n", text)).unwrap();
        assert_eq!(u.intent, want, "{text}: {:?}", u.reasons);
    }
}

#[test]
fn auto_replies_by_header_subject_and_body() {
    let u = understand(&msg(
        "Subject: Re: Facture\r\nAuto-Submitted: auto-replied\r\n",
        "Je suis absent jusqu'au 12 octobre.",
    ))
    .unwrap();
    assert_eq!(
        (u.intent, u.auto_reply, u.back_on),
        (Intent::AutoReply, Some(AutoKind::OutOfOffice), NaiveDate::from_ymd_opt(2026, 10, 12))
    );
    let u =
        understand(&msg("Subject: Undeliverable: Payment reminder\r\n", "Delivery has failed to these recipients."))
            .unwrap();
    assert_eq!(u.auto_reply, Some(AutoKind::DeliveryFailure));
    let u = understand(&msg("Subject: Out of Office\r\n", "I am on annual leave until 19 October.")).unwrap();
    assert_eq!(u.intent, Intent::AutoReply);
    assert!(u.refs.is_empty());
    let u = understand(&msg("Subject: RE: Facture\r\nAuto-Submitted: no\r\n", "Nous payerons vendredi.")).unwrap();
    assert_eq!(u.intent, Intent::PromiseToPay, "Auto-Submitted: no is a person");
}

#[test]
fn entities_dates_amounts_refs() {
    let u = understand(&msg(
        "Subject: RE: Facture FAC-88240\r\n",
        "votre facture FAC-88240 de 3 480,00 EUR sera réglée au 31/10/2026 par LCR.",
    ))
    .unwrap();
    assert_eq!(u.promised_date, NaiveDate::from_ymd_opt(2026, 10, 31));
    assert_eq!((u.amount.as_deref(), u.currency.as_deref()), (Some("3480.00"), Some("EUR")));
    assert_eq!(u.refs, vec!["FAC-88240"]);
    let u = understand(&msg("Subject: Re: INV-55215 overdue\r\n", "Payment of $1,200.00 cleared on Monday.")).unwrap();
    assert_eq!((u.intent, u.amount.as_deref()), (Intent::AlreadyPaid, Some("1200.00")));
    let u = understand(&msg(
        "Subject: RE: Relance\r\n",
        "Le prix de 12 €/u au lieu de 10,50 €/u ne correspond pas au devis.",
    ))
    .unwrap();
    assert_eq!((u.intent, u.amount), (Intent::Dispute, None), "no amount reported for a dispute");
    assert_eq!(
        references("", "Facture 2026-4410 du 2026-10-20, cf. FAC-88290 et RIB 12345"),
        vec!["2026-4410", "FAC-88290"]
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(understand(b"").is_err());
    let _ = understand(b"\xff\xfe\x00garbage\r\n\r\n");
    let _ = understand(b"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain; charset=unknown-8bit\r\n\r\nhello\r\n");
}

/// 89 hand-written replies in many wordings (see `hard_cases.txt`).
#[test]
fn hand_written_hard_cases() {
    let mut misses = Vec::new();
    let mut n = 0;
    for line in include_str!("hard_cases.txt").lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (want, text) = line.split_once('|').unwrap();
        n += 1;
        let u = understand(&msg(
            "Subject: RE: Relance facture FAC-1\r\n",
            &format!("Bonjour,\r\n{text}\r\nCordialement\r\n"),
        ))
        .unwrap();
        if u.intent.as_str() != want {
            misses.push(format!("{want} got {}: {text}", u.intent.as_str()));
        }
        if want == "promise_to_pay" {
            assert!(u.promised_date.is_some(), "no date for: {text}");
        }
    }
    assert!(n >= 80);
    assert!(misses.is_empty(), "{} of {n} misclassified:\n{}", misses.len(), misses.join("\n"));
}

#[test]
fn structural_problems_are_reported() {
    let broken =
        b"From: a@b.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\nno parts here\r\n";
    assert!(understand(broken).unwrap().problems[0].contains("boundary `zzz`"));
    let charset = b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=x-klingon-9\r\n\r\nqapla\r\n";
    assert!(understand(charset).unwrap().problems[0].contains("unknown charset `x-klingon-9`"));
    assert!(understand(&msg("Subject: ok\r\n", "Nous paierons vendredi.")).unwrap().problems.is_empty());
}

#[test]
fn bare_cr_line_endings_are_lines() {
    let raw = b"From: a@x.example\rSubject: Re: relance\rContent-Type: text/plain\r\rNous paierons la facture FAC-2026-0042 le 15/12/2026.\r\rLe 1 d\xc3\xa9c. 2026, Relance <r@y.example> a \xc3\xa9crit :\r> Votre facture est en retard.\r";
    let u = understand(raw).unwrap();
    assert_eq!(u.subject.as_deref(), Some("Re: relance"));
    assert_eq!(u.new_text, "Nous paierons la facture FAC-2026-0042 le 15/12/2026.");
    assert_eq!(u.intent, Intent::PromiseToPay);
}

#[test]
fn a_huge_body_is_read_up_to_the_bound() {
    let mut body = String::from("Nous paierons vendredi.\r\n\r\n");
    let filler = "x".repeat(50_000);
    while body.len() < 2 * super::MAX_BODY_BYTES {
        body.push_str(&filler);
        body.push('\r');
    }
    let u = understand(&msg("Subject: Re: relance\r\n", &body)).unwrap();
    assert!(u.new_text.starts_with("Nous paierons vendredi."), "{}", &u.new_text[..80]);
    assert!(u.new_text.len() <= super::MAX_BODY_BYTES, "{}", u.new_text.len());
    assert!(u.new_text.lines().all(|l| l.chars().count() <= super::MAX_LINE_CHARS));
    assert!(u.reasons.iter().any(|r| r.starts_with("long body")), "{:?}", u.reasons);
}

#[test]
fn without_a_date_header_relative_dates_are_read_from_the_day_received() {
    let raw = b"From: client@example.com\r\nSubject: RE: relance\r\n\r\nNous paierons la facture vendredi.\r\n";
    // Thursday 8 October 2026: Friday is the 9th; Monday 12 October: Friday is the 16th.
    let thursday = super::understand(raw, NaiveDate::from_ymd_opt(2026, 10, 8).unwrap()).unwrap();
    assert_eq!((thursday.intent, thursday.date), (Intent::PromiseToPay, None));
    assert_eq!(thursday.promised_date, NaiveDate::from_ymd_opt(2026, 10, 9));
    let monday = super::understand(raw, NaiveDate::from_ymd_opt(2026, 10, 12).unwrap()).unwrap();
    assert_eq!(monday.promised_date, NaiveDate::from_ymd_opt(2026, 10, 16));
    // A Date header wins over the day received.
    let dated = super::understand(&msg("Subject: RE: relance\r\n", "Nous paierons vendredi."), NaiveDate::MIN).unwrap();
    assert_eq!(dated.promised_date, NaiveDate::from_ymd_opt(2026, 10, 9));
}

#[test]
fn an_understanding_reads_back_from_its_stored_json() {
    let u = understand(&msg(
        "Subject: RE: Facture FAC-88240\r\nIn-Reply-To: <rl-abc@x.example>\r\n",
        "votre facture FAC-88240 de 3 480,00 EUR sera réglée au 31/10/2026 par LCR.",
    ))
    .unwrap();
    let text = serde_json::to_string(&u).unwrap();
    let back: Understanding = serde_json::from_str(&text).unwrap();
    // serde_json reads floats to within one unit in the last place.
    assert!((back.confidence - u.confidence).abs() < 1e-12);
    assert_eq!(Understanding { confidence: u.confidence, ..back.clone() }, u);
    assert_eq!(back.thread, ["rl-abc@x.example"]);
    // A row stored before `problems` existed still reads.
    let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
    old.as_object_mut().unwrap().remove("problems");
    let back: Understanding = serde_json::from_value(old).unwrap();
    assert_eq!((back.intent, back.problems.len()), (Intent::PromiseToPay, 0));
    assert_eq!("promise_to_pay".parse::<Intent>(), Ok(Intent::PromiseToPay));
    assert!("promise".parse::<Intent>().is_err());
}
