//! The letter of an outbound message: header, subject, date, place,
//! registered-mail mention and signature taken from the rendered template.

use chrono::{NaiveDate, TimeZone, Utc};
use relance_connector::OutboundMessage;
use relance_domain::{Channel, Language, TenantId};

use super::*;

const FR: &str = "Acme Industrie SAS\nà Zakład Produkcyjny Łódź Sp. z o.o.\nLe 28/12/2026\n\nObjet : mise en demeure de payer\n\nMadame, Monsieur,\n\nMalgré nos relances…\n\nVeuillez agréer, Madame, Monsieur, nos salutations distinguées.\n\nLe service comptabilité clients – Acme Industrie SAS";

fn message(language: Language, body: &str) -> OutboundMessage {
    OutboundMessage {
        tenant: TenantId::new("acme").expect("tenant id"),
        tenant_name: "Acme Industrie SAS".into(),
        customer_id: "C1".into(),
        customer_name: "Zakład Produkcyjny Łódź Sp. z o.o.".into(),
        channel: Channel::Letter,
        idempotency_key: "k".into(),
        token: "rl-1".into(),
        step: "formal_notice".into(),
        invoices: vec!["FAC-1".into()],
        language,
        recipients: Vec::new(),
        postal_address: Some("ul. Żółkiewskiego 12\n90-001 Łódź\nPologne".into()),
        sender_address: vec!["Acme Industrie SAS".into(), "12 rue des Écoles".into(), "75005 Paris".into()],
        subject: Some("Mise en demeure de payer – Acme Industrie SAS".into()),
        body_text: body.into(),
        body_html: None,
        attachments: Vec::new(),
        date: Utc.with_ymd_and_hms(2026, 12, 28, 8, 0, 0).single().expect("date"),
        planned_for: NaiveDate::from_ymd_opt(2026, 12, 28).expect("day"),
        in_reply_to: None,
        reply_token: None,
    }
}

#[test]
fn the_formal_notice_is_laid_out_as_a_french_letter() {
    let l = letter_of(&message(Language::Fr, FR));
    assert_eq!(l.sender, ["Acme Industrie SAS", "12 rue des Écoles", "75005 Paris"]);
    assert_eq!(l.recipient, ["Zakład Produkcyjny Łódź Sp. z o.o.", "ul. Żółkiewskiego 12", "90-001 Łódź", "Pologne"]);
    assert_eq!(l.place_date, "À Paris, le 28/12/2026");
    assert_eq!(l.mention.as_deref(), Some("Lettre recommandée avec accusé de réception"));
    assert_eq!(l.subject.as_deref(), Some("Objet : mise en demeure de payer"));
    assert_eq!(
        l.body,
        "Madame, Monsieur,\n\nMalgré nos relances…\n\nVeuillez agréer, Madame, Monsieur, nos salutations distinguées."
    );
    assert_eq!(l.signature, ["Le service comptabilité clients – Acme Industrie SAS"]);
    assert_eq!(l.language, "fr");
    assert_eq!(l.title, "Mise en demeure de payer – Acme Industrie SAS");
    // an address repeating the name on its first line
    let mut m = message(Language::Fr, FR);
    m.postal_address = Some("ZAKŁAD PRODUKCYJNY ŁÓDŹ SP. Z O.O.\nul. Żółkiewskiego 12\n\n90-001 Łódź".into());
    assert_eq!(letter_of(&m).recipient, ["Zakład Produkcyjny Łódź Sp. z o.o.", "ul. Żółkiewskiego 12", "90-001 Łódź"]);
}

#[test]
fn the_english_notice_and_its_mention() {
    let en = "Acme Industrie SAS\nto Dave Ltd\n28 December 2026\n\nSubject: formal notice to pay\nDear Sir or Madam,\n\nYours faithfully,\n\nAccounts receivable – Acme Industrie SAS";
    let l = letter_of(&message(Language::En, en));
    assert_eq!(l.place_date, "Paris, 28 December 2026");
    assert_eq!(l.mention.as_deref(), Some("Registered letter with acknowledgement of receipt"));
    assert_eq!(l.subject.as_deref(), Some("Subject: formal notice to pay"));
    assert_eq!(l.body, "Dear Sir or Madam,\n\nYours faithfully,");
    assert_eq!(l.signature, ["Accounts receivable – Acme Industrie SAS"]);
}

#[test]
fn the_mention_is_not_repeated_nor_added_to_other_letters() {
    let said = FR.replace("Madame, Monsieur,", "Lettre recommandée avec AR\n\nMadame, Monsieur,");
    assert_eq!(letter_of(&message(Language::Fr, &said)).mention, None, "the text says it already");
    let mut m = message(
        Language::Fr,
        "Acme Industrie SAS\nà Dave SAS\nLe 28/12/2026\n\nMadame, Monsieur,\n\nSans règlement sous huit jours…\n\nLe service clients – Acme Industrie SAS",
    );
    m.step = "final_letter".into();
    m.subject = Some("Dernier avis avant mise en demeure – Acme Industrie SAS".into());
    let l = letter_of(&m);
    assert_eq!(l.mention, None);
    // no subject line in the text: the message's subject, without the company
    assert_eq!(l.subject.as_deref(), Some("Objet : Dernier avis avant mise en demeure"));
    // the header paragraph is dropped, its date kept
    assert_eq!(l.place_date, "À Paris, le 28/12/2026");
    assert_eq!(l.body, "Madame, Monsieur,\n\nSans règlement sous huit jours…");
    assert_eq!(l.signature, ["Le service clients – Acme Industrie SAS"]);
}

#[test]
fn without_header_or_address_the_defaults_apply() {
    let mut m = message(Language::Fr, "Bonjour,\n\nMerci de régler.\nCordialement,\nJean");
    m.sender_address.clear();
    m.step = "courteous".into();
    m.subject = None;
    let l = letter_of(&m);
    assert_eq!(l.sender, ["Acme Industrie SAS"]);
    assert_eq!(l.place_date, "Le 28/12/2026", "the planned day, no town known");
    assert_eq!((l.mention, l.subject), (None, None));
    assert_eq!(l.body, "Bonjour,\n\nMerci de régler.\nCordialement,\nJean");
    assert_eq!(l.signature, ["Acme Industrie SAS"], "the tenant's name signs");
}

#[test]
fn the_town_is_read_after_the_postcode() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(city(&s(&["Acme", "1 rue X", "69003 LYON CEDEX 03"])).as_deref(), Some("LYON"));
    assert_eq!(city(&s(&["Acme", "BP 12", "13001 Marseille", "France"])).as_deref(), Some("Marseille"));
    assert_eq!(city(&s(&["Acme", "12 rue X"])), None, "a street number is no postcode");
    assert_eq!(city(&s(&["75002 Paris"])), None, "the first line is the name");
}
