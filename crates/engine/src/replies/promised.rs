//! The promised date among the dates of a promise to pay (see
//! [`super::dates`] for the reading of dates): the text is cut into
//! clauses (sentences, then commas, colons, brackets, "but" / "mais"), and
//! each future date is weighed by its clause:
//! - skipped: past dates; clauses about a payment already made or another
//!   past event ("paid the other invoice on the 2nd", "réglée vendredi",
//!   "it was approved on Friday"); dates of a document ("votre relance du
//!   3", "invoice dated 03/12"); requests ("call me tomorrow",
//!   "rappelez-moi lundi"); days named as bank holidays ("vendredi c'est le
//!   8 mai, férié") and dates said before a correction ("vendredi... ah
//!   non, lundi 11");
//! - preferred: clauses with a payment word, then a future-tense marker,
//!   then sentences with a payment word;
//! - kept only if nothing better: absences and closures said before the
//!   date ("back on Wednesday", "nous fermons le 24"), meetings and
//!   approvals the payment waits for ("after our board meets on the 10th",
//!   "le comité se réunit le 17"), payments said not to happen then
//!   ("can't pay this week", "pas aujourd'hui").
//!
//! A date restated ("45 jours fin de mois, soit le 31 janvier", "net 30,
//! i.e. 2/10") replaces the one before it.
//!
//! Among dates joined by "et" / "and" / "ou" / "or" ("le 5 et le 20"), the
//! next one counts. Ties go to the first in the text. Nothing left: no
//! date (a vague promise).

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::dates::FoundDate;

fn re(pattern: &str) -> Regex {
    #[allow(clippy::unwrap_used)] // the patterns are constants, checked by every test
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).unwrap()
}

static PAST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(paid|sent|settled|transferred|wired|remitted|went out|gone out|was|were|had|has been|have been|approved|signed|received|yesterday|ago|last|since|already|(?:ai|as|a|avons|avez|ont|est|sont|ete)\s+(?:\w+\s+)?(?:paye|regle|vire|verse|effectue|valide|signe|approuve|envoye)|a ete|ont ete|depuis|deja|hier|dernier|derniere)\b",
    )
});
/// Past participles alone ("réglée vendredi", but "payée le 10 avril" is
/// a plan): past only for a date without a number.
static PARTICIPLE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(payees?|reglees?|virees?|versees?|envoyee?s?|effectuees?|recue?s?|validees?|approuvees?|signees?)\b")
});
static FUTURE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"('ll\b|\bill\b|\bwill\b|\bshall\b|\bgoing to\b|\bgonna\b|\bscheduled\b|\bplanned\b|\bset to\b|\bqueued\b|\bplan to\b|\bintend|\bexpect|\bto be\b|\bsera\b|\bseront\b|\bserez\b|\bserons\b|\bva\b|\bvais\b|\ballons\b|\bprevue?s?\b|\bprogramme|\bplanifie|\bprochaine?\b|\bnext\b|\b\w{2,}(?:erai|era|erons|erez|eront|irai|ira|irons|iront)\b)",
    )
});
static PAY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(pay\w*|paid|settle\w*|transfer\w*|wire\w*|remit\w*|releas\w*|send|sending|going out|go out|goes out|check|checks|cheque|ach|bacs|sepa|funds|money|argent|paie\w*|paye\w*|paier\w*|regl\w*|vire\w*|verse\w*|lcr|traite|process\w*|disburse\w*|run|campagne|passage|echeance)\b",
    )
});
static REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(call me|call us|ring me|give me a call|give us a call|phone me|contact me|reach me|rappelez|rappelle|rappeler|appelez-moi|appelle-moi|m'appeler|me telephoner|me joindre|joignable|rendez-vous|rdv)\b",
    )
});
static DOCUMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(facture|invoice|relance|rappel|reminder|e-?mail|mail|message|courrier|lettre|letter|statement|releve|avoir|commande|order|livraison|delivery|devis|quote|dated|datee)s?\b",
    )
});
static AWAY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(back|retour|rentre\w*|returns?|revien\w*|away|absent|absente|out of (?:the )?office|conges|on leave|on holiday|en vacances|ferme|fermons|fermes|fermee|fermeture|closed|closing|shut)\b",
    )
});
/// A meeting or an approval the payment waits for: its date is the day
/// before the payment, kept only if nothing better is left.
static MEETING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(board|committee|council|meets|meeting|approves?|vote|votes|comite|conseil|assemblee|se reunit|se reunira|reunion|votera)\b",
    )
});
static HOLIDAY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(ferie|bank holiday|public holiday|labou?r day|memorial day|thanksgiving|jour ferie|holiday)\b")
});
/// A payment said not to happen at that date ("can't pay this week", "je
/// n'ai pas pu payer cette semaine", "not today"): its date is kept only if
/// nothing better is left.
static NEGATED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(can't|cannot|can not|couldn't|could not|won't|will not|unable to|not able to|not (today|tomorrow|this week|this month)|(n'ai|n'avons|n'a) pas (pu|encore)|ne (peux|pouvons|pourrons|pourrai) pas|pas (aujourd'hui|demain|cette semaine|ce mois))\b",
    )
});
static CORRECTION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(\bah non\b|\boh non\b|\bnon,|\ben fait\b|\bplutot\b|\bactually\b|\bscratch that\b|\bcorrection\b|\bi mean\b|\bi meant\b|\bmake that\b|\brectification\b|\bsoit\b|\bi\.e\.|\bthat is\b|\bc'est-a-dire\b)",
    )
});

/// Clause spans: sentences cut at `.`/`!`/`?`/`;`/newlines, clauses
/// further at `,`, `:`, brackets and "but" / "mais"; each with its
/// sentence number.
fn clauses(text: &str) -> Vec<(usize, usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut sentence) = (0, 0);
    let mut i = 0;
    while i < b.len() {
        let next_space = b.get(i + 1).is_none_or(|c| c.is_ascii_whitespace());
        let sentence_end = matches!(b[i], b'\n' | b'!' | b'?' | b';') || (b[i] == b'.' && next_space);
        let clause_end = matches!(b[i], b':' | b'(' | b')') || (b[i] == b',' && next_space);
        let word_end = [" but ", " mais ", " however ", " cependant "]
            .iter()
            .find(|w| b[i..].starts_with(w.as_bytes()))
            .map(|w| w.len());
        if sentence_end || clause_end || word_end.is_some() {
            if i > start {
                out.push((start, i, sentence));
            }
            if sentence_end {
                sentence += 1;
            }
            start = i + word_end.map_or(1, |n| n - 1);
            i = start;
            continue;
        }
        i += 1;
    }
    if start < b.len() {
        out.push((start, b.len(), sentence));
    }
    out
}

/// A clause about the past: a past marker not in a passive to come ("I
/// get paid on the 27th", "to be paid") nor "last time"; a participle
/// alone only for a date without a number.
fn is_past(clause: &str, date_text: &str) -> bool {
    let strong = PAST.find_iter(clause).any(|m| {
        let previous = clause[..m.start()].split_whitespace().next_back().unwrap_or("");
        let next = clause[m.end()..].split_whitespace().next().unwrap_or("");
        !matches!(previous, "get" | "gets" | "getting" | "be" | "being") && !matches!(next, "fois" | "time")
    });
    strong || (!date_text.bytes().any(|b| b.is_ascii_digit()) && PARTICIPLE.is_match(clause))
}

/// The promised date among `found` (the dates of `text`, see
/// [`super::dates::find_dates`]): see the module documentation.
pub fn pick<'a>(text: &str, base: NaiveDate, found: &'a [FoundDate]) -> Option<&'a FoundDate> {
    let spans = clauses(text);
    let clause_of = |at: usize| spans.iter().position(|(s, e, _)| at >= *s && at < *e);
    let slice = |s: usize, e: usize| text.get(s..e).unwrap_or("");
    // Days named as holidays: in the holiday's clause, or the one before
    // when the holiday stands alone ("le 8 mai, férié"; not "on 1/4, when
    // we're back from the holiday shutdown").
    let mut blocked: Vec<NaiveDate> = Vec::new();
    for m in HOLIDAY.find_iter(text) {
        if slice(m.start().saturating_sub(3), m.start()) == "on " {
            continue;
        }
        let Some(k) = clause_of(m.start()) else { continue };
        let in_clause = |k: usize| found.iter().filter(move |f| clause_of(f.at) == Some(k));
        if in_clause(k).next().is_some() {
            blocked.extend(in_clause(k).map(|f| f.date));
        } else if k > 0 && spans[k - 1].2 == spans[k].2 && slice(spans[k].0, spans[k].1).split_whitespace().count() <= 4
        {
            blocked.extend(in_clause(k - 1).map(|f| f.date));
        }
    }
    let corrections: Vec<usize> = CORRECTION.find_iter(text).map(|m| m.end()).collect();
    let mut best: Option<(i32, &FoundDate)> = None;
    for (i, f) in found.iter().enumerate() {
        if f.date < base || blocked.contains(&f.date) {
            continue;
        }
        // Superseded by a date after a correction.
        if corrections.iter().any(|c| *c > f.end && found.iter().any(|g| g.at >= *c)) {
            continue;
        }
        // "le 5 et le 20": the next one.
        let joined = |a: &FoundDate, b: &FoundDate| {
            matches!(
                slice(a.end, b.at).trim(),
                "et" | "and" | "ou" | "or" | "et le" | "and the" | "or the" | "ou le" | "and on the"
            )
        };
        if (i > 0 && joined(&found[i - 1], f) && (base..f.date).contains(&found[i - 1].date))
            || found.get(i + 1).is_some_and(|g| joined(f, g) && (base..f.date).contains(&g.date))
        {
            continue;
        }
        let Some(k) = clause_of(f.at) else { continue };
        let (cs, ce, sentence) = spans[k];
        let clause = slice(cs, ce);
        let future = FUTURE.is_match(clause);
        if (is_past(clause, &f.text) && !future) || REQUEST.is_match(clause) {
            continue;
        }
        // The date of a document: "votre relance du 3", "invoice dated 03/12".
        let before: Vec<&str> = slice(cs, f.at).split_whitespace().rev().take(3).collect();
        let connector = before.first().copied().filter(|w| matches!(*w, "of" | "dated" | "datee" | "from" | "emise"));
        let connector = connector.or_else(|| f.text.split_whitespace().next().filter(|w| matches!(*w, "du" | "of")));
        if connector.is_some() && before.iter().any(|w| DOCUMENT.is_match(w)) {
            continue;
        }
        let mut score = 0;
        if PAY.is_match(clause) {
            score += 2;
        } else if spans.iter().filter(|s| s.2 == sentence).any(|(s, e, _)| PAY.is_match(slice(*s, *e))) {
            score += 1;
        }
        if future {
            score += 1;
        }
        // The absence or closure said just before this date (not before
        // an earlier date of the clause: "back on Monday and paid by Friday").
        let from = found[..i].iter().rev().map(|g| g.end).find(|e| *e > cs && *e <= f.at).unwrap_or(cs);
        if AWAY.is_match(slice(from, f.end)) || MEETING.is_match(slice(from, f.end)) {
            score -= 3;
        }
        if NEGATED.is_match(clause) {
            score -= 3;
        }
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, f));
        }
    }
    best.map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::dates::find_dates;
    use relance_domain::Language;

    /// The promised date of `text`, written on Thursday 8 October 2026.
    fn promised(text: &str, lang: Language) -> Option<NaiveDate> {
        let base = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();
        let found = find_dates(text, base, lang);
        pick(text, base, &found).map(|f| f.date)
    }

    fn d(m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, m, day)
    }

    #[test]
    fn past_dates_and_paid_invoices_are_skipped() {
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(promised("you sent it on the 3rd, we will pay it on the 20th", en), d(10, 20));
        assert_eq!(promised("we paid the other invoice on the 2nd, this one on the 15th", en), d(10, 15));
        assert_eq!(promised("we've paid 0012 today. 0014 will follow on friday", en), d(10, 9));
        assert_eq!(promised("la 0041 est reglee depuis lundi. la 0042 partira dans le virement du 30", fr), d(10, 30));
        assert_eq!(promised("fa-12 : reglee vendredi.\nfa-13 : on la passe mardi prochain", fr), d(10, 13));
        // A participle with an explicit date is a plan, not the past.
        assert_eq!(promised("- 0041 : payee le 20 octobre", fr), d(10, 20));
        assert_eq!(promised("it was approved on monday, payment is queued for 10/30", en), d(10, 30));
        assert_eq!(promised("suite a votre relance du 3, je paierai lundi", fr), d(10, 12));
    }

    #[test]
    fn the_payment_clause_wins() {
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(promised("we're closing the books this week. payment by the end of the month.", en), d(10, 31));
        assert_eq!(promised("office is shut tomorrow but the transfer goes tuesday", en), d(10, 13));
        assert_eq!(promised("nous fermons le 20 octobre. la facture sera payee le 19 octobre.", fr), d(10, 19));
        assert_eq!(promised("our clerk is back on monday and you'll have the money by wednesday", en), d(10, 14));
        // Absences are kept when nothing else is left.
        assert_eq!(promised("i'll pay it when i'm back on the 19th", en), d(10, 19));
        // Requests are no promises.
        assert_eq!(promised("call me tomorrow. we'll pay on the 15th", en), d(10, 15));
        assert_eq!(promised("rappelez-moi demain", fr), None);
        // A meeting the payment waits for.
        assert_eq!(
            promised(
                "i will pay after our board meets on the 10th, the payment will go out the following day, the 11th",
                en
            ),
            d(10, 11)
        );
        assert_eq!(
            promised("the board meets on october 12 to approve payables. it will be paid after that, on the 15th.", en),
            d(10, 15)
        );
        assert_eq!(
            promised("le comite se reunit le 17 ; le paiement sera execute dans la foulee, le 18.", fr),
            d(10, 18)
        );
        assert_eq!(promised("we'll pay once the committee approves it on the 20th", en), d(10, 20));
        // A payment said not to happen then.
        assert_eq!(promised("can't pay this week, but next tuesday for sure", en), d(10, 13));
        assert_eq!(promised("can't do it today, sorry. friday latest.", en), d(10, 9));
        assert_eq!(
            promised(
                "je n'ai pas pu payer cette semaine, ce sera pour la semaine prochaine, mercredi au plus tard",
                fr
            ),
            d(10, 14)
        );
        // Alone, it still says when.
        assert_eq!(promised("desole, pas avant le 28. mais le 28 c'est sur.", fr), d(10, 28));
    }

    #[test]
    fn holidays_corrections_and_alternatives() {
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(
            promised("le virement part lundi... ah non, lundi c'est le 12, ferie. donc mardi 13", fr),
            d(10, 13)
        );
        assert_eq!(promised("friday is a bank holiday, so we'll send it monday", en), d(10, 12));
        assert_eq!(promised("it will be paid on 10/19, when we're back from the holiday shutdown", en), d(10, 19));
        assert_eq!(promised("we'll pay on the 9th, actually make that the 16th", en), d(10, 16));
        assert_eq!(promised("nos virements partent deux fois par mois, le 5 et le 20", fr), d(10, 20));
        assert_eq!(promised("we pay on the 10th and the 25th", en), d(10, 10));
        // "la dernière fois" is no past clause.
        assert_eq!(promised("je passe mardi vous regler comme la derniere fois", fr), d(10, 13));
        // A date restated replaces the one before it.
        assert_eq!(promised("payee a 45 jours fin de mois, soit le 30 novembre", fr), d(11, 30));
        // Nothing dated: a vague promise.
        assert_eq!(promised("we'll pay as soon as we can", en), None);
    }
}
