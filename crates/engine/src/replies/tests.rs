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
    // Sick leave: one's own is an absence notice, a colleague's is said by a person.
    let u = understand(&msg("Subject: RE: Facture\r\n", "Je suis en arrêt maladie jusqu'au 20 octobre.")).unwrap();
    assert_eq!(u.intent, Intent::AutoReply);
    let u = understand(&msg(
        "Subject: RE: Facture\r\n",
        "Notre comptable est en arrêt maladie, elle revient le 16 et fera les virements à ce moment-là.",
    ))
    .unwrap();
    assert_eq!(u.auto_reply, None);
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

/// A multipart/alternative message with a text and an HTML part.
fn alt(text: &str, html: &str) -> Vec<u8> {
    format!(
        "From: client@example.com\r\nTo: ar@supplier.example\r\nSubject: RE: Relance\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// An HTML-only message.
fn html_only(html: &str) -> Vec<u8> {
    format!("From: client@example.com\r\nTo: ar@supplier.example\r\nSubject: RE: Relance\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n").into_bytes()
}

const REMINDER: &str =
    "Sauf erreur de notre part, la facture FA-9 reste impayée. En cas de litige, merci de nous indiquer le motif.";

#[test]
fn outlook_desktop_html_divider_and_bold_header_block() {
    let html = format!(
        "<html><head><style>p.MsoNormal {{margin:0cm}}</style></head><body><div class=WordSection1>\
         <p class=MsoNormal>Bonjour,<o:p></o:p></p><p class=MsoNormal>Le virement part vendredi.<o:p></o:p></p>\
         <div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
         <p class=MsoNormal><b>De&nbsp;:</b> Recouvrement &lt;r@x.example&gt;<br><b>Envoyé&nbsp;:</b> mardi 6 octobre 2026 08:30<br>\
         <b>Objet&nbsp;:</b> Relance</p></div></div><p class=MsoNormal>{REMINDER}</p></div></body></html>"
    );
    let u = understand(&html_only(&html)).unwrap();
    assert_eq!(u.new_text, "Bonjour,\nLe virement part vendredi.");
}

#[test]
fn outlook_web_and_mobile_markers_end_the_new_text() {
    let html = format!(
        "<div class=elementToProof>We paid on 2 October.</div><div id=ms-outlook-mobile-signature>Get Outlook for iOS</div>\
         <div id=appendonsend></div><hr><div id=divRplyFwdMsg><b>From:</b> AR &lt;ar@x.example&gt;<br><b>Sent:</b> Tuesday</div>\
         <div>{REMINDER}</div>"
    );
    assert_eq!(understand(&html_only(&html)).unwrap().new_text, "We paid on 2 October.");
}

#[test]
fn gmail_quote_and_wrapped_attribution() {
    let html = format!(
        "<div dir=ltr>Ok pour le 20.</div><br><div class=gmail_quote><div class=gmail_attr>Le mar. 6 oct. 2026 à 08:30, AR &lt;ar@x.example&gt; a écrit&nbsp;:<br></div>\
         <blockquote class=gmail_quote style='margin:0 0 0 .8ex;border-left:1px #ccc solid'>{REMINDER}</blockquote></div>"
    );
    assert_eq!(understand(&html_only(&html)).unwrap().new_text, "Ok pour le 20.");
    // text/plain: the attribution wrapped over two lines, a narrow no-break space before PM.
    let text = "Paid today.\n\nOn Tue, Oct 6, 2026 at 8:30\u{202f}PM Accounts Receivable <\nar@x.example> wrote:\n\n> Please pay INV-1.\n";
    assert_eq!(new_text(text), "Paid today.");
}

#[test]
fn apple_thunderbird_yahoo_and_zimbra_containers() {
    let cases = [
        format!(
            "<div>Déjà payé.</div><div><br><blockquote type=cite><div>Le 6 oct. 2026 à 08:30, AR a écrit :</div>{REMINDER}</blockquote></div>"
        ),
        format!(
            "<p>Déjà payé.</p><div class=moz-cite-prefix>Le 06/10/2026 à 08:30, AR a écrit&nbsp;:<br></div><blockquote type=cite cite=mid:x>{REMINDER}</blockquote>"
        ),
        format!(
            "<div class=ydp1yahoo-style-wrap><div>Déjà payé.</div></div><div id=ydp2yahoo_quoted_3 class=yahoo_quoted><div>Le mardi 6 octobre 2026, AR a écrit :</div>{REMINDER}</div>"
        ),
        format!("<div>Déjà payé.</div><hr id=zwchr><div><b>De: </b>AR<br><b>Envoyé: </b>mardi<br></div>{REMINDER}"),
    ];
    for html in cases {
        assert_eq!(understand(&html_only(&html)).unwrap().new_text, "Déjà payé.", "{html}");
    }
}

#[test]
fn html_part_is_preferred_and_style_is_no_text() {
    let html = "<html><head><style>.x{color:red}</style><script>var a=1;</script></head><body><p>R&eacute;gl&eacute; le 2&nbsp;octobre.</p></body></html>";
    let u = understand(&alt("text part that is not read", html)).unwrap();
    assert_eq!(u.new_text, "Réglé le 2 octobre.");
}

#[test]
fn bottom_posted_and_inline_replies_keep_the_customers_lines() {
    let bottom = "Le 6 oct. 2026 à 08:30, AR <ar@x.example> a écrit :\n> Merci de régler FA-9.\n> En cas de litige, dites-le.\n\nNous contestons FA-9 : livraison incomplète.\n";
    assert_eq!(new_text(bottom), "Nous contestons FA-9 : livraison incomplète.");
    let inline = "Bonjour,\n\nOn Tue, Oct 6, 2026 at 8:30 AM AR <ar@x.example> wrote:\n> INV-1: 300.00 due 1 October\n\nPaid on 2 October.\n\n> INV-2: 120.00 due 5 October\n\nWe dispute this one, never delivered.\n\nRegards,\nJo\n";
    assert_eq!(
        new_text(inline),
        "Bonjour,\n\nPaid on 2 October.\n\nWe dispute this one, never delivered.\n\nRegards,\nJo"
    );
    // A long quoted line wrapped by the client: its tail has no `>` but is still quoted.
    let wrapped = "Ok.\n\nOn Tue, Oct 6, 2026 at 8:30 AM AR wrote:\n> To avoid any interruption of service, please pay online or reply with\nthe date you expect to pay.\n>\n> AR team\n";
    assert_eq!(new_text(wrapped), "Ok.");
    let html = "<div>Hello,</div><blockquote type=cite>Can you pay INV-1?</blockquote><div>Yes, on Friday.</div><blockquote type=cite>And INV-2?</blockquote><div>Already paid.</div>";
    assert_eq!(understand(&html_only(html)).unwrap().new_text, "Hello,\n\nYes, on Friday.\n\nAlready paid.");
}

#[test]
fn an_html_only_reply_below_outlook_s_divider_is_read_after_the_senders_signature() {
    // Bottom-posted in Outlook: the divider opens the message, so the whole HTML renders as
    // quoted; with no text part of its own, the message is read from that rendering.
    let html = "<html><body><div class=WordSection1><div><div style='border:none;border-top:solid #E1E1E1 1.0pt'>\
         <p class=MsoNormal><b>De&nbsp;:</b> Service Recouvrement Acme &lt;recouvrement@acme.example&gt;<br>\
         <b>Envoyé&nbsp;:</b> vendredi 2 octobre 2026 08:59<br><b>Objet&nbsp;:</b> Relance facture FA-9</p></div></div>\
         <div><p>Bonjour,</p><p>Sauf erreur de notre part, la facture FA-9 reste impayée. Nous vous remercions de bien vouloir procéder à son règlement dans les meilleurs délais.</p>\
         <p style='color:#555555'>Service Recouvrement<br>Acme SAS<br>12 rue des Artisans, 69007 Lyon</p></div><br>\
         <p class=MsoNormal>Bonjour,</p><p class=MsoNormal>&nbsp;</p><p class=MsoNormal>Le virement partira jeudi.</p>\
         <p class=MsoNormal>Gaëlle</p></div></body></html>";
    let u = understand(&html_only(html)).unwrap();
    assert_eq!(u.new_text, "Bonjour,\nLe virement partira jeudi.\nGaëlle");
    assert_eq!(u.intent, Intent::PromiseToPay);
}

#[test]
fn header_blocks_in_french_english_german_and_notes() {
    for sep in [
        "-----Message d'origine-----\nDe : AR\nEnvoyé : mardi\nÀ : moi\nObjet : Relance",
        "-----Original Message-----\nFrom: AR\nSent: Tuesday\nSubject: Reminder",
        "-----Ursprüngliche Nachricht-----\nVon: AR\nGesendet: Dienstag\nBetreff: Mahnung",
        "----- Mail original -----\nDe: \"AR\" <ar@x.example>\nÀ: moi\nEnvoyé: Mardi 6 Octobre 2026 08:30:00\nObjet: Relance",
        "________________________________\nFrom: AR <ar@x.example>\nSent: Tuesday, October 6, 2026 8:30 AM",
        "*From:* AR <ar@x.example>\n*Sent:* Tuesday\n*To:* me",
        "From:\tAR <ar@x.example>\nTo:\tme\nDate:\t06/10/2026 08:30\nSubject:\tReminder",
        "-----\"AR\" <ar@x.example> a écrit : -----",
    ] {
        let body = format!("Nous paierons le 20.\n\n{sep}\n\n{REMINDER}\n");
        assert_eq!(new_text(&body), "Nous paierons le 20.", "{sep}");
    }
}

#[test]
fn signatures_and_legal_footers_are_cut_but_not_the_customers_text() {
    let body = "We will pay on Friday.\n\nJo Smith\nAccounts Payable\n\nThis email and any attachments are confidential and intended solely for the addressee. Payment inquiries and disputes should be sent to ap@client.example.\n";
    assert_eq!(new_text(body), "We will pay on Friday.\n\nJo Smith\nAccounts Payable");
    let fr = "Réglé hier.\nMarie\nCe message et ses pièces jointes sont confidentiels. Toute contestation doit être adressée par courrier.\n";
    assert_eq!(new_text(fr), "Réglé hier.\nMarie");
    assert_eq!(new_text("Ok pour vendredi.\n\nEnvoyé de mon iPhone\n"), "Ok pour vendredi.");
    assert_eq!(new_text("Paid.\n-- \nJo\n+44 20 0000 0000\n"), "Paid.");
    // A customer's sentence that mentions confidentiality is the customer's text.
    let own = "This is confidential: our bank is late, we will pay on the 20th.";
    assert_eq!(new_text(own), own);
}

#[test]
fn forwards_keep_the_note_and_an_empty_note_keeps_the_senders_own_message() {
    let fwd = format!(
        "Voir ci-dessous, déjà réglé.\n\n---------- Forwarded message ---------\nDe : AR <ar@x.example>\nDate: mar. 6 oct. 2026\n\n{REMINDER}\n"
    );
    assert_eq!(new_text(&fwd), "Voir ci-dessous, déjà réglé.");
    let own = "---------- Forwarded message ---------\nFrom: Client <client@example.com>\nDate: Mon, Oct 5, 2026\nTo: ar@x.example\n\nWe paid INV-1 on 2 October.\n";
    assert_eq!(quote::extract(own, Some("client@example.com")), "We paid INV-1 on 2 October.");
    let reminder =
        format!("---------- Forwarded message ---------\nFrom: AR <ar@x.example>\nDate: Mon\n\n{REMINDER}\n");
    assert_eq!(quote::extract(&reminder, Some("client@example.com")), "");
}

#[test]
fn html_rendering_is_bounded() {
    // Deep nesting and a huge body stay linear and bounded.
    let deep = "<div>".repeat(100_000) + "x" + &"</span>".repeat(100_000);
    let text = html::html_to_text(&deep);
    assert_eq!(text.trim(), "x");
    let big = "<p>paid</p>".repeat(400_000);
    let text = html::html_to_text(&big);
    assert!(text.len() <= MAX_BODY_BYTES + 64 * 1024, "{}", text.len());
}

#[test]
fn a_reply_below_an_unprefixed_outlook_quote_is_read_after_the_senders_signature() {
    let history = "________________________________\nFrom: Harbour Tools A/R <ar@harbourtools.example>\nSent: Friday, March 13, 2026 8:06 AM\nTo: Kevin <k@client.example>\nSubject: Payment reminder\n\nGood morning,\n\nOur records show invoice HT-1 open, please let us know when Harbour Tools will be paid.\n\nAccounts Receivable\nHarbour Tools Inc. | 1 Quay Street\n";
    let bottom = format!("{history}\nYou billed 12 hours, the job sheet says 8. We'll pay for 8.\n\nKevin\n");
    assert_eq!(new_text(&bottom), "You billed 12 hours, the job sheet says 8. We'll pay for 8.\n\nKevin");
    // A greeting above the quote stays, with the text below.
    let greeted = format!("Hi,\n\n{history}\nPaid on Friday.\n");
    assert_eq!(new_text(&greeted), "Hi,\n\nPaid on Friday.");
    // Written above: the quote is history, as before; nothing below the signature: nothing read.
    assert_eq!(new_text(&format!("We will pay on the 20th.\n\n{history}")), "We will pay on the 20th.");
    assert_eq!(new_text(history), "");
    // A header block whose sender no line of the quote names: nothing guessed.
    let unnamed = "From: AR <ar@x.example>\nSent: Friday\nTo: me\n\nPlease pay.\n\nThanks\n\nPaid.\n";
    assert_eq!(new_text(unnamed), "");
    // A long legal line after the line naming the sender is still the signature.
    let legal = "________________________________\nDe : Batiplus Negoce - Credit clients <credit@batiplus.example>\nEnvoyé : vendredi 11 décembre 2026 10:07\nObjet : Relance\n\nMadame, Monsieur, merci de régulariser sous huitaine.\n\nService Crédit clients\nBatiplus Negoce - ZA des Trois Moulins, 77000 Melun\nLes pénalités de retard sont exigibles de plein droit (taux BCE + 10 points), indemnité forfaitaire de recouvrement : 40 €.\n\nLe paiement suivra le 15 janvier.\n";
    assert_eq!(new_text(legal), "Le paiement suivra le 15 janvier.");
}

#[test]
fn the_addresses_a_message_was_delivered_to_are_kept_for_reply_tokens() {
    let raw = b"From: Compta <compta@client.example>\r\n\
To: \"Acme\" <Collections+r7-0123456789abcdef@acme.example>, other@acme.example\r\n\
Cc: boss@client.example\r\n\
Delivered-To: collections+r7-0123456789abcdef@acme.example\r\n\
X-Original-To: <collections+r7-0123456789abcdef@acme.example>\r\n\
Subject: facture\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nNous paierons le 15 decembre.\r\n";
    let u = understand(raw).unwrap();
    assert_eq!(
        u.addressed_to,
        ["collections+r7-0123456789abcdef@acme.example", "other@acme.example", "boss@client.example"],
        "lowercase, once each, From not included"
    );
    assert_eq!(token::find(&u.addressed_to[0]).map(|c| c.outbox_id), Some(7));
    // Kept when stored and read back; rows written before it have none.
    let back: Understanding = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
    assert_eq!(back.addressed_to, u.addressed_to);
    let old = serde_json::to_string(&Understanding::default()).unwrap();
    assert!(!old.contains("addressed_to"), "{old}");
    assert!(serde_json::from_str::<Understanding>(&old).unwrap().addressed_to.is_empty());
}

#[test]
fn a_denied_dispute_is_no_dispute_for_the_rules() {
    let disputes = |text: &str| rule_scores(&fold_lower(text), None).iter().any(|s| s.0 == Intent::Dispute);
    for text in [
        "Aucune contestation de notre côté, c'est juste la trésorerie. Le virement part vendredi.",
        "Nous ne contestons pas la prestation, nous paierons le 15.",
        "Nous ne contestons ni la prestation ni le montant.",
        "Pas de litige hein, on a juste eu un trou de trésorerie.",
        "Ce n'est pas une contestation, juste une question sur la TVA.",
        "No dispute on INV-1 at all, it's just cash flow.",
        "We don't dispute the amount, we just need more time.",
        "I'm not disputing INV-2. I'll pay it on the 15th.",
        "There's nothing wrong with the invoice, we just missed it.",
    ] {
        assert!(!disputes(text), "{text}");
    }
    // The dispute words outside the denial still count.
    for text in [
        "Nous contestons cette facture : la livraison était incomplète.",
        "We don't dispute the delivery, but the price is wrong.",
        "No dispute about the hours; the rate is incorrect though.",
    ] {
        assert!(disputes(text), "{text}");
    }
}

#[test]
fn a_sick_leave_told_as_a_story_is_no_automatic_reply() {
    let told = understand(&msg(
        "Subject: RE: Relance\r\n",
        "Bonjour,\n\nJe suis en arrêt maladie depuis un mois et ma femme gère comme elle peut. On vous propose 250 € par mois à partir de novembre.\n\nSerge",
    ))
    .unwrap();
    assert_eq!(told.auto_reply, None);
    assert_ne!(told.intent, Intent::AutoReply);
    let ooo =
        understand(&msg("Subject: RE: Relance\r\n", "Je suis en arrêt maladie jusqu'au 19 octobre inclus.")).unwrap();
    assert_eq!(ooo.intent, Intent::AutoReply);
}
