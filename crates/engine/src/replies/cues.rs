//! Discourse cues of a reply, as model features (`cue:<name>`): shapes of a
//! sentence rather than words, so that wordings no writer of the corpus used
//! still land on the right side of the boundaries that words alone blur.
//!
//! - **Disputes without a cue word**: a question about what is billed ("why
//!   is there a second delivery charge?", "d'où vient la différence ?"),
//!   numbers set against each other ("14 heures alors que le bon en indique
//!   9", "billed 40 hours, the timesheets add up to 31"), goods received
//!   short or wrong ("we only got 6 of the 10", "not what we ordered"), work
//!   not done ("wasn't finished", "n'a pas eu lieu");
//! - **plans**: part now and the rest later ("500 € maintenant et le reste
//!   fin avril", "half now, half on the 30th"), a count of payments ("en 3
//!   fois", "in three goes", "4 chèques"), several amounts or dates;
//! - **promises, not payments made**: "not paid yet", "pas encore payé", a
//!   payment run ("le 10 de chaque mois", "our Thursday run"), a payment
//!   that waits on something ("dès que le client nous aura payé");
//! - **requests that are no promise**: "call me", "rappelez-moi", a request
//!   in the conditional ("pourriez-vous", "could you"), instructions for
//!   future invoices ("à l'avenir", "from now on"), an e-mail address;
//! - **missing documents vs missing goods**: "never received" said of an
//!   invoice (a copy request) or of goods (a dispute).
//!
//! Computed once per message on the folded new text: one small regex per
//! cue and one scan of the sentences; deterministic, no allocation per word.

use std::sync::LazyLock;

use regex::Regex;

/// Cue patterns, in the order of [`CUE_NAMES`] (ASCII word boundaries: the
/// text is folded).
const CUE_PATTERNS: &[&str] = &[
    // why_billed: a question about what is billed.
    r"\b(why|how come|how did (you|we)|where (do|does|did) [ -~]{0,40}come from|what is (the|this|that) [ -~]{0,30}for|explain|pourquoi|d'ou vien|comment (arrivez|avez|etes|expliquez)|a quoi correspond|c'est normal|est-ce normal|have i missed|ai-je rate|which (one|figure) is (it|right|correct)|is this (right|correct)|sur quelle base|expliquer)\b",
    // only_received: goods received short.
    r"\b(only (got|received|had|delivered|shipped)|(we|i) (got|received) (only )?\d+ (of|out of|instead)|on (en )?a (eu|recu) (que )?\d+|nous (n')?en avons recu \d+|seulement \d+|(n'|ne )?(avons|a|ai) (eu|recu) qu'(un|une|\d)|qu'un seul|received \d+ (against|instead|out of)|\d+ of the \d+)\b",
    // not_ordered: not what was ordered or agreed.
    r"\b(not what (we|i) (ordered|asked for|agreed)|(never|didn't|did not) order|(pas|jamais) commande|pas ce qu'(on|nous) (a|avons|avions) commande|n'avons (jamais )?commande|wrong (item|items|product|goods|model|size|colou?r|alloy|layout)|instead of the|au lieu d(e|es|u)|not the one|pas celui|pas celle|ne sont pas celles|ne correspond)\b",
    // not_done: work or delivery that did not happen or is unfinished.
    r"\b((wasn't|was not|weren't|were not|isn't|is not|hasn't|has not|haven't|have not|never) (been )?(finished|completed|done|started|delivered|installed|performed|provided|carried out|fitted|fixed)|n'(a|ont) (pas|jamais) (eu lieu|ete (fait|faite|livre|livree|pose|posee|realise|realisee|termine|terminee))|ne (s'est|se sont) pas presente|personne n'est venu|toujours pas (termine|fini|livre|repare|venu)|jamais (arrive|arrivee|arrives|venu|livre)s?|broke (down )?again|still (open|broken|not working|waiting))\b",
    // part_rest: part now and the rest later.
    r"\b((now|today|this week|this month|tout de suite|maintenant|aujourd'hui|cette semaine|ce mois(-ci)?|demain|tomorrow|immediately)\b[ -~]{0,80}\b(the rest|the remainder|the balance|the other half|remaining|le reste|le solde|l'autre moitie|the second half)|(half|la moitie|une partie|part of it|acompte|a deposit|\d+ ?%)\b[ -~]{0,60}\b(now|today|maintenant|aujourd'hui|tout de suite|cette semaine|this week)|(le reste|le solde|the rest|the remainder|the balance)\b[ -~]{0,60}\b(plus tard|later|next month|le mois prochain|fin|end of|en \w+|in \w+|apres|after|when|once|des que|quand)|(half|la moitie|une moitie|50 ?%)\b[ -~]{1,80}\b(half|moitie|the other|the rest|the remainder|the balance|le reste|le solde|le restant|l'autre)|(\d+|acompte|deposit|first (part|instal\w*|payment)|premier (versement|paiement))\b[ -~]{1,80}\b(the other half|the second half|la seconde moitie|l'autre moitie|and the rest|and the remainder|and the balance|then the rest|then the balance|et le reste|et le solde|et le restant|puis le reste|puis le solde)|\d[ -~]{1,60}\b(and|et|then|puis) (another|a further|a second|un autre|une autre|un second|un deuxieme|encore) ?(€|£|\$)? ?\d+|(now|maintenant|today|aujourd'hui|this week|cette semaine|this month|ce mois-ci)\b,? (and|et|then|puis) (€|£|\$)? ?\d+|(the remaining|il reste|reste a payer|remaining balance of|the outstanding) ?(€|£|\$)? ?\d+)\b",
    // count_of_payments: instalments by number.
    r"\b((in|en) (two|three|four|five|six|deux|trois|quatre|cinq|six|\d+) ?(x|fois|goes|payments|parts|instal\w*|versements|mensualites|echeances|cheques|checks|tranches)\b|\d+ ?x\b|(two|three|four|six|deux|trois|quatre|\d+) (post-dated )?(cheques|checks|versements|payments|instal\w*|mensualites|equal)|(by|par) (small|petites?) (amounts|sommes|payments|versements)|(\d+|€|£|\$|euros?|eur|pounds|gbp|dollars|usd) ?(a|per|par|each|every|chaque|/) ?(week|month|fortnight|semaine|mois|quinzaine)|(weekly|monthly|fortnightly) (payments|instal\w*|amounts)|(mensualites|versements mensuels|versements hebdomadaires) de|(one|une) (par|per|a) mois|payment arrangement|repayment (schedule|plan))",
    // not_yet: no payment made so far.
    r"\b(not (been )?paid yet|not yet (been )?paid|(haven't|have not|hasn't|has not|didn't|did not) (yet )?(been )?(paid|pay|sent|settled)( this| it)? yet|yet to (be )?(pay|paid|send|sent)|pas encore (ete )?(paye|payee|regle|reglee|parti|partie|vire|viree|envoye)|n'(a|ai|avons|est) pas encore|pas encore parti)\b",
    // payment_run: a recurring payment day or run.
    r"\b(de chaque mois|de tous les mois|of (each|every) month|every month|each month|chaque (mois|semaine|quinzaine)|tous les (\d+|quinze) jours|deux fois par mois|(check|cheque|payment|pay|ach|net-30|supplier|vendor|ap) runs?|prochain (passage|cycle|lot|run|paiement|virement|reglement)|prochaine (campagne|echeance|session|mise en paiement)|(thursday|friday|monday|tuesday|wednesday)'?s? (check |payment |pay )?run)\b",
    // conditional_pay: a payment that waits on something.
    r"\b(once (they|we|it|the|our)|as soon as (they|we|the|our|it)|when (they|we|the|our) (pay|get|receive)|des que (le|la|les|notre|nous|j'|je)|quand (le|la|notre|nous|on) (aura|aurons|recevra|sera)|apres (le deblocage|l'encaissement|reception))\b",
    // call_request: a request to be called or met.
    r"\b(call me|call us|ring me|give me a call|phone me|call (me )?back|speak (to|with) (me|someone)|rappelez|rappeler|appelez-moi|m'appeler|me telephoner|me joindre|joignable|de vive voix|talk it through|rendez-vous|passer (sur le chantier|jeudi|lundi|mardi|mercredi|vendredi))\b",
    // polite_request: a request in the conditional or as a question.
    r"\b(could you|can you|would you|could we|can we|would it be possible|is it possible|is there any way|any chance|please could|pourriez-vous|pouvez-vous|pourrions-nous|pouvons-nous|serait-il possible|est-ce qu'on (peut|pourrait)|est-il possible|accepteriez|auriez-vous|vous pouvez|possible de)\b",
    // future_invoices: instructions for what comes next.
    r"\b(future (invoices|correspondence|statements)|from now on|going forward|in future|from (that date|then on)|prochaines factures|a l'avenir|desormais|dorenavant|a partir du|a compter du|pour les prochaines|next time)\b",
    // missing_doc: a document lost or never received.
    r"\b(never (received|got|saw)|(not|n't) (received|got|get)|no record|can't find|cannot find|can not find|couldn't find|lost|deleted|went to spam|in (the )?spam|corrupted|won't open|expired|(pas|jamais|rien) recu|ne (la|le) (trouve|retrouve)|ne trouve|nulle part|egare|supprime|dans les spams|s'ouvre pas|ne (l')?avons pas|pas de trace)\b",
    // goods_words: goods, deliveries and work (what a missing-goods dispute speaks of).
    r"\b(goods|parts|units|pallets?|cases|boxes|items|shipment|delivery|delivered|order|kit|monitors|laptops|bolts|marchandises?|colis|palettes?|cartons|livraison|livre|livree|commande|materiel|plaques|sacs|pieces|prestation|travaux|chantier|repas|couverts)\b",
];

/// Names of the cues, in the order of [`CUE_PATTERNS`].
const CUE_NAMES: &[&str] = &[
    "cue:why_billed",
    "cue:only_received",
    "cue:not_ordered",
    "cue:not_done",
    "cue:part_rest",
    "cue:count_of_payments",
    "cue:not_yet",
    "cue:payment_run",
    "cue:conditional_pay",
    "cue:call_request",
    "cue:polite_request",
    "cue:future_invoices",
    "cue:missing_doc",
    "cue:goods_words",
];

/// One regex per cue: each stops at its first match, and small automata
/// stay in the lazy DFA's cache (one set of all of them did not: its states
/// were built again and again).
static CUES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    CUE_PATTERNS
        .iter()
        .map(|p| {
            #[allow(clippy::unwrap_used)] // the patterns are constants, checked by every test
            Regex::new(&p.replace(r"\b", r"(?-u:\b)").replace(r"\w", r"(?-u:\w)").replace(r"\d", "[0-9]")).unwrap()
        })
        .collect()
});

/// Words that set one figure against another in a sentence.
const CONTRAST: &[&str] = &[
    "alors",
    "but",
    "mais",
    "instead",
    "lieu",
    "whereas",
    "while",
    "only",
    "seulement",
    "que",
    "not",
    "pas",
    "vs",
    "versus",
    "says",
    "dit",
    "indique",
    "shows",
    "against",
    "contre",
];

/// Words of billing: what a question or a contrast of figures is about.
const BILLING_STEMS: &[&str] =
    &["bill", "charg", "invoic", "factur", "fee", "frais", "price", "prix", "rate", "tarif", "compt", "line", "ligne"];

/// The cues of `text` (folded, lower case): see the module documentation.
pub fn cues(text: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> =
        CUES.iter().zip(CUE_NAMES).filter(|(re, _)| re.is_match(text)).map(|(_, name)| *name).collect();
    let has = |name: &str, out: &[&str]| out.contains(&name);
    // Compound cues: their parts alone say little.
    if has("cue:why_billed", &out) && (text.contains('?') || text.contains("explain") || text.contains("expliqu")) {
        out.push("cue:question_about_billing");
    }
    if has("cue:missing_doc", &out) {
        out.push(if has("cue:goods_words", &out) { "cue:missing_goods" } else { "cue:missing_invoice" });
    }
    if text.contains('@') && text.split_whitespace().any(|w| w.contains('@') && w.contains('.')) {
        out.push("cue:email_address");
    }
    if paid_arriving(text) {
        out.push("cue:paid_arriving");
    }
    let (contrast, billing) = figures_contrasted(text);
    if contrast {
        out.push("cue:figures_contrasted");
        if billing {
            out.push("cue:figures_contrasted_billing");
        }
    }
    out
}

/// Where a payment already made will arrive: the date ahead is the arrival,
/// not the payment ("you should see it tomorrow", "vous l'aurez demain").
static ARRIVAL: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant, checked by every test
    Regex::new(
        &r"\b((you|u) ?(should|will|'ll|ll|shall|may|might) (see|have|get|receive) (it|them|the (funds|money|payment|transfer))|(should|will|'ll|ought to|expected to|due to) (settle|clear|arrive|land|reach|hit|show|appear|be (with you|in your|on your|credited|received|visible|there))|(should|will) (be )?(credit|reflect)|credited (on|by|tomorrow|within|in)|(arrive|arrives|land|lands|reach|reaches|clear|clears|settle|settles) (in your|on your|tomorrow|by|within|on)|takes? (\d+|a few|one|two|three|2-3|1-2) (working |business )?days|vous l'aure[zs]|vous (le|la|les) recevre[zs]|(vous )?devrie[zs] (le|la|les) (recevoir|voir|avoir)|devrai(t|ent) (arriver|etre (credite|recu|visible|sur))|arrivera|arriveront|(intervient|interviendra) (en general |normalement )?(sous|dans|d'ici)|vous parviendra|sera credite|seront credites|sur votre compte|(sous|d'ici) (\d+ ?h|\d+ jours|demain|lundi|mardi|mercredi|jeudi|vendredi)|delai (bancaire|de \d+))\b"
            .replace(r"\b", r"(?-u:\b)")
            .replace(r"\d", "[0-9]"),
    )
    .unwrap()
});

/// Whether a payment is told as made ("transfer ordered this morning",
/// "ACH initiated today", "le virement est parti", "mandat émis") and a
/// sentence, or the next one, tells when it arrives ("you should see it
/// tomorrow", "should settle Thursday", "vous l'aurez demain"). A payment
/// still to be made ("will send", "will be sent", "sera envoyé", "pas encore
/// parti") is no payment made.
fn paid_arriving(text: &str) -> bool {
    /// Acts of paying, done (past or completed present forms).
    const DONE: &[&str] = &[
        "ordered",
        "initiated",
        "sent",
        "posted",
        "mailed",
        "issued",
        "released",
        "submitted",
        "processed",
        "wired",
        "transferred",
        "paid",
        "remitted",
        "executed",
        "went",
        "gone",
        "emis",
        "emise",
        "parti",
        "partie",
        "partis",
        "envoye",
        "envoyee",
        "effectue",
        "effectuee",
        "ordonne",
        "ordonnee",
        "lance",
        "lancee",
        "vire",
        "viree",
        "paye",
        "payee",
        "regle",
        "reglee",
        "verse",
        "versee",
        "execute",
        "executee",
        "poste",
        "postee",
        "expedie",
        "expediee",
    ];
    /// Acts that are payments whatever the sentence speaks of.
    const PAYING: &[&str] = &[
        "wired",
        "transferred",
        "paid",
        "remitted",
        "vire",
        "viree",
        "paye",
        "payee",
        "regle",
        "reglee",
        "verse",
        "versee",
    ];
    /// Words of a payment, for the acts that could be of anything ("sent").
    const PAYMENT_STEMS: &[&str] = &[
        "pay",
        "transfer",
        "wire",
        "virement",
        "cheque",
        "check",
        "ach",
        "bacs",
        "sepa",
        "fund",
        "fonds",
        "money",
        "remittance",
        "mandat",
        "reglement",
        "paiement",
        "swift",
        "eft",
        "chps",
        "faster",
        "argent",
        "somme",
    ];
    /// Words before an act that make it still to come or not done.
    const NOT_DONE: &[&str] = &[
        "will", "ll", "shall", "be", "being", "to", "going", "gonna", "would", "should", "can", "could", "sera",
        "seront", "etre", "va", "vont", "vais", "allons", "pas", "not", "t", "never", "jamais", "once", "when",
        "after", "des", "quand", "if", "si", "yet", "encore",
    ];
    let sentences: Vec<&str> = text.split(['.', '!', '?', ';', '\n']).filter(|s| !s.trim().is_empty()).collect();
    let done = |sentence: &str| {
        let words: Vec<&str> = sentence.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let about_paying = words.iter().any(|w| PAYMENT_STEMS.iter().any(|s| w.starts_with(s)));
        words.iter().enumerate().any(|(i, w)| {
            DONE.contains(w)
                && (about_paying || PAYING.contains(w))
                && !words[i.saturating_sub(3)..i].iter().any(|b| NOT_DONE.contains(b))
        })
    };
    sentences
        .iter()
        .enumerate()
        .any(|(i, s)| done(s) && (ARRIVAL.is_match(s) || sentences.get(i + 1).is_some_and(|n| ARRIVAL.is_match(n))))
}

/// Whether a sentence, or two sentences in a row, set two figures against
/// each other ("14 heures alors que le bon en indique 9", "The unit price
/// is $14.75. Our PO says $12.90."), and whether they speak of billing too.
fn figures_contrasted(text: &str) -> (bool, bool) {
    // (figures, a contrast word, a billing word) per sentence.
    let mut sentences: Vec<(u32, bool, bool)> = Vec::new();
    let mut current = (0u32, false, false);
    for token in text.split_whitespace() {
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        if token.bytes().any(|b| b.is_ascii_digit()) {
            // "$14.75", "12,90", "8h": one figure (not a date nor a reference: few digits).
            if token.bytes().filter(u8::is_ascii_digit).count() <= 6 && !token.contains('/') {
                current.0 += 1;
            }
        } else if CONTRAST.contains(&word) || word.ends_with("'au") || word == "qu'il" || word == "qu'on" {
            current.1 = true;
        } else if BILLING_STEMS.iter().any(|s| word.starts_with(s)) {
            current.2 = true;
        }
        if token.ends_with(['.', '!', '?', ';']) {
            sentences.push(std::mem::take(&mut current));
        }
    }
    sentences.push(current);
    let (mut contrast, mut billing) = (false, false);
    for (i, s) in sentences.iter().enumerate() {
        let (figures, against, bills) = match sentences.get(i + 1) {
            Some(n) if s.0 == 1 && n.0 >= 1 => (s.0 + n.0, s.1 || n.1, s.2 || n.2),
            _ => *s,
        };
        if figures >= 2 && against {
            contrast = true;
            billing |= bills;
        }
    }
    (contrast, billing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::fold_lower;

    fn of(text: &str) -> Vec<&'static str> {
        cues(&fold_lower(text))
    }

    #[test]
    fn every_pattern_compiles_and_has_a_name() {
        assert_eq!(CUE_PATTERNS.len(), CUE_NAMES.len());
        assert_eq!(CUES.len(), CUE_NAMES.len());
    }

    #[test]
    fn disputes_without_a_cue_word() {
        let c = of("Why is there a second delivery charge? Everything came on one van.");
        assert!(c.contains(&"cue:question_about_billing"), "{c:?}");
        let c = of("Vous nous facturez 12 heures alors que le bon signé indique 8 heures.");
        assert!(c.contains(&"cue:figures_contrasted_billing"), "{c:?}");
        let c = of("The unit price is $14.75. Our PO says $12.90 instead.");
        assert!(c.contains(&"cue:figures_contrasted"), "{c:?}");
        assert!(of("uh, we only got 6 of the 10 monitors").contains(&"cue:only_received"));
        assert!(of("On a commandé des 25 cl, c'est pas ce qu'on a commandé").contains(&"cue:not_ordered"));
        assert!(of("The work wasn't finished and the snagging list is still open.").contains(&"cue:not_done"));
        assert!(of("La prestation du 14 n'a pas eu lieu.").contains(&"cue:not_done"));
        // A plain promise has none of them.
        let c = of("We will pay on Friday 14 March.");
        assert!(!c.iter().any(|x| x.contains("figures") || x.contains("billing") || x.contains("not_")), "{c:?}");
    }

    #[test]
    fn plans_and_promises() {
        assert!(of("Je peux vous faire 500 € maintenant et le reste fin avril").contains(&"cue:part_rest"));
        assert!(of("We can do half now and half on the 30th.").contains(&"cue:part_rest"));
        assert!(of("Serait-il possible de régler en trois fois ?").contains(&"cue:count_of_payments"));
        assert!(of("Would ye take it in 3 goes?").contains(&"cue:count_of_payments"));
        assert!(of("We didn't pay this yet but we will by Friday.").contains(&"cue:not_yet"));
        assert!(of("La facture n'a pas encore été payée, elle le sera le 30.").contains(&"cue:not_yet"));
        assert!(of("on paye le 10 de chaque mois").contains(&"cue:payment_run"));
        assert!(of("You'll be in our Thursday run.").contains(&"cue:payment_run"));
        assert!(of("je ferai le virement dès que le client nous aura payé").contains(&"cue:conditional_pay"));
        assert!(!of("Le virement part vendredi.").contains(&"cue:part_rest"));
    }

    #[test]
    fn a_payment_made_that_arrives_later() {
        for paid in [
            "Transfer ordered this morning, you should see it tomorrow.",
            "ACH initiated today, should settle Thursday.",
            "Le virement est parti ce matin, vous l'aurez demain.",
            "Cheque posted yesterday. You'll have it by Friday.",
            "Mandat de paiement émis le 3, il arrivera sur votre compte sous 48h.",
            "We have sent the payment; it should reach you on Monday.",
            "Virement effectué ce jour, vous devriez le recevoir vendredi.",
        ] {
            assert!(of(paid).contains(&"cue:paid_arriving"), "{paid}");
        }
        for promise in [
            "We will send the payment on Friday, you should see it Monday.",
            "The transfer will be sent tomorrow and should arrive Thursday.",
            "Le virement sera envoyé lundi, vous l'aurez mercredi.",
            "Le virement n'est pas encore parti, vous l'aurez la semaine prochaine.",
            "The parts we ordered should arrive tomorrow.",
            "Transfer ordered this morning.",
            "We'll pay on the 14th.",
        ] {
            assert!(!of(promise).contains(&"cue:paid_arriving"), "{promise}");
        }
    }

    #[test]
    fn amounts_split_over_several_times() {
        for plan in [
            "We can do half this week, half on Jan 8.",
            "£1,500 this Friday and the balance end of December.",
            "La moitié vendredi, le reste fin janvier.",
            "Je peux verser 400 € le 5 et le solde le 20.",
            "Half on the 15th and the other half when the client pays us.",
            "We'll send 500 and then the rest by the 30th.",
            "We'll send $2,500 this Friday and another $2,500 on February 5th.",
            "will pay 150 now and 150 next month if thats ok",
            "Je vous règle 700 € maintenant et 700 € fin février.",
            "We already paid $3,000 last week. The remaining $2,460 will be paid by the end of the month.",
            "Nous avons payé 2 000 € hier. Il reste 1 150 € que nous réglerons avant le 20.",
        ] {
            assert!(of(plan).contains(&"cue:part_rest"), "{plan}");
        }
        for plan in
            ["We could manage 300 euros par mois.", "Could we pay £200 each month?", "$500/month until it's cleared"]
        {
            assert!(of(plan).contains(&"cue:count_of_payments"), "{plan}");
        }
        for single in [
            "We will pay the balance on Friday.",
            "The balance of £1,500 will be paid by the 30th.",
            "Payment of €300 on the 12th.",
            "We paid half of it already.",
            "We'll send $2,500 this Friday.",
            "Paid today, and thanks for the reminder.",
        ] {
            let c = of(single);
            assert!(!c.contains(&"cue:part_rest") && !c.contains(&"cue:count_of_payments"), "{single}: {c:?}");
        }
    }

    #[test]
    fn requests_and_missing_documents_or_goods() {
        assert!(of("Pouvez-vous me rappeler demain matin ?").contains(&"cue:call_request"));
        assert!(of("Can someone call me tomorrow about our account?").contains(&"cue:call_request"));
        assert!(of("Could you add our PO number to future invoices?").contains(&"cue:future_invoices"));
        let c = of("We never received this invoice. Send it to accounts@brightwell.example please.");
        assert!(c.contains(&"cue:missing_invoice") && c.contains(&"cue:email_address"), "{c:?}");
        let c = of("Les 12 sacs de ciment facturés ne sont jamais arrivés, jamais reçu la livraison.");
        assert!(c.contains(&"cue:missing_goods") && !c.contains(&"cue:missing_invoice"), "{c:?}");
    }
}
