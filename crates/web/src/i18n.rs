//! The workspace's words in French and English.
//!
//! Templates call `t("key")`; the page's language is the person's choice,
//! else their own setting, else the tenant's. A test checks that every key a
//! template uses is here, in both languages.

use relance_domain::Language;

/// (key, French, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("app.name", "Relance", "Relance"),
    ("nav.today", "Aujourd'hui", "Today"),
    ("nav.cash", "Encaissements", "Cash review"),
    ("nav.replies", "Réponses", "Replies"),
    ("nav.approvals", "À valider", "To approve"),
    ("nav.customers", "Clients", "Customers"),
    ("nav.reports", "Indicateurs", "Reports"),
    ("nav.operations", "Exploitation", "Operations"),
    ("nav.logout", "Se déconnecter", "Log out"),
    ("nav.language", "English", "Français"),
    ("nav.skip", "Aller au contenu", "Skip to content"),
    ("login.title", "Connexion", "Log in"),
    ("login.tenant", "Organisation", "Organisation"),
    ("login.name", "Identifiant", "User name"),
    ("login.password", "Mot de passe", "Password"),
    ("login.submit", "Se connecter", "Log in"),
    (
        "login.failed",
        "Identifiant ou mot de passe incorrect, ou compte verrouillé pour quelques minutes.",
        "Wrong user name or password, or the account is locked for a few minutes.",
    ),
    ("login.expired", "Le formulaire a expiré : merci de recommencer.", "The form expired: please try again."),
    ("role.admin", "administrateur", "administrator"),
    ("role.collector", "chargé de recouvrement", "collector"),
    ("role.read_only", "lecture seule", "read-only"),
    ("today.title", "Ce qui vous attend", "What is waiting for you"),
    ("today.payments", "Paiements à examiner", "Payments to review"),
    ("today.replies", "Réponses à confirmer", "Replies to confirm"),
    ("today.approvals", "Relances à valider", "Reminders to approve"),
    ("today.tasks", "Tâches ouvertes", "Open tasks"),
    ("today.broken", "Promesses non tenues", "Broken promises"),
    ("today.quarantine", "Entrées en quarantaine", "Quarantined inputs"),
    ("today.failed", "Relances en échec", "Failed reminders"),
    ("today.nothing", "Rien à traiter.", "Nothing to handle."),
    ("cash.title", "Paiements à examiner", "Payments to review"),
    ("cash.search", "Rechercher (payeur, montant, référence)", "Search (payer, amount, reference)"),
    ("cash.search.submit", "Rechercher", "Search"),
    ("cash.empty_review", "Aucun paiement à examiner.", "No payment to review."),
    ("cash.empty_applied", "Aucun paiement appliqué.", "No applied payment."),
    ("cash.views", "Listes de paiements", "Payment lists"),
    ("cash.view_review", "À examiner", "To review"),
    ("cash.view_applied", "Appliqués (annuler)", "Applied (undo)"),
    ("cash.allocations", "Affectations", "Allocations"),
    ("cash.invoice", "Facture", "Invoice"),
    ("cash.amount", "Montant", "Amount"),
    ("cash.by", "Par", "By"),
    ("cash.when", "Quand", "When"),
    ("cash.by_matcher", "automatique", "automatic"),
    ("cash.undone", "Annulée le", "Undone on"),
    ("cash.undo", "Annuler cette affectation", "Undo this allocation"),
    ("cash.allocate", "Affecter à la main", "Allocate by hand"),
    ("cash.allocate_help", "Une facture et son montant par ligne", "One invoice and its amount per line"),
    ("cash.allocate_submit", "Affecter", "Allocate"),
    ("cash.remittance", "Libellé", "Remittance"),
    ("cash.candidates", "Explications possibles", "Possible explanations"),
    ("cash.customer", "Client", "Customer"),
    ("cash.invoices", "Factures", "Invoices"),
    ("cash.confidence", "Confiance", "Confidence"),
    ("cash.reasons", "Raisons", "Reasons"),
    ("cash.decision", "Pourquoi pas automatique", "Why not automatic"),
    (
        "cash.holds_reminders",
        "Relances suspendues en attendant ce virement",
        "Reminders held until this credit is reviewed",
    ),
    ("cash.accept", "Accepter cette explication", "Accept this explanation"),
    ("cash.reject", "Rejeter (pas un paiement client)", "Reject (not a customer payment)"),
    ("cash.reason", "Motif", "Reason"),
    (
        "cash.none",
        "Aucune explication trouvée : à affecter à la main par l'API.",
        "No explanation found: allocate by hand through the API.",
    ),
    ("replies.title", "Réponses à confirmer", "Replies to confirm"),
    ("replies.empty", "Aucune réponse à confirmer.", "No reply to confirm."),
    ("replies.from", "De", "From"),
    ("replies.subject", "Objet", "Subject"),
    ("replies.intent", "Intention", "Intent"),
    ("replies.whole", "Message complet, citations comprises", "The whole message, quotes included"),
    ("replies.received", "Reçu", "Received"),
    ("replies.open", "Ouvrir", "Open"),
    ("replies.new_text", "Texte nouveau du client", "The customer's new text"),
    ("replies.reasons", "Raisons", "Reasons"),
    ("replies.dates", "Date promise", "Promised date"),
    ("replies.invoices", "Factures", "Invoices"),
    ("replies.correct", "Confirmer ou corriger", "Confirm or correct"),
    ("replies.amount", "Montant", "Amount"),
    ("replies.comment", "Commentaire", "Comment"),
    ("replies.save", "Enregistrer", "Save"),
    ("replies.saved", "Correction enregistrée.", "Correction saved."),
    ("replies.confidence", "Confiance", "Confidence"),
    ("reports.title", "Indicateurs", "Reports"),
    ("reports.aged", "Balance âgée", "Aged balance"),
    ("reports.dso", "DSO (méthode de l'épuisement)", "DSO (countback method)"),
    ("reports.days", "jours", "days"),
    ("reports.currency", "Devise", "Currency"),
    ("reports.customer", "Client", "Customer"),
    ("reports.total", "Total", "Total"),
    ("reports.as_of", "Au", "As of"),
    ("reports.filter", "Filtre des indicateurs", "Report filter"),
    ("reports.from", "Du", "From"),
    ("reports.to", "au", "to"),
    ("reports.months", "Mois de l'historique", "Months of history"),
    ("reports.by", "Lignes par", "Rows by"),
    ("reports.segment", "Segment", "Segment"),
    ("reports.by_customer", "Par client", "By customer"),
    ("reports.by_segment", "Par segment", "By segment"),
    ("reports.apply", "Afficher", "Show"),
    ("reports.sections", "Parties des indicateurs", "Report sections"),
    ("reports.section_balances", "Encours (DSO, balance âgée)", "Balances (DSO, aged balance)"),
    ("reports.section_trends", "Tendances (DMP, retards)", "Trends (DMP, overdue)"),
    (
        "reports.section_activity",
        "Activité (promesses, lettrage, relances, réponses)",
        "Activity (promises, cash application, reminders, replies)",
    ),
    (
        "reports.largest",
        "les plus gros encours par devise ; tous dans le CSV",
        "the largest balances per currency; all in the CSV",
    ),
    ("reports.period", "Période", "Period"),
    ("reports.receivables", "Encours", "Receivables"),
    ("reports.paid", "Payé", "Paid"),
    ("reports.nothing", "Rien sur la période.", "Nothing in the period."),
    ("reports.dmp", "DMP (délai moyen de paiement)", "DMP (average days to pay)"),
    (
        "reports.dso_def",
        "Encours du jour rapporté aux ventes des mois précédents, en remontant mois par mois jusqu'à l'épuiser (méthode de l'épuisement), par devise.",
        "Today's receivables counted back against the sales of the months before, month by month until exhausted (countback method), per currency.",
    ),
    (
        "reports.dmp_def",
        "Jours moyens entre l'échéance et le paiement (date de l'opération bancaire) des sommes affectées sur la période, pondérés par les montants ; négatif quand on paie en avance.",
        "Average days from due date to payment (the bank's booking date) of the money applied in the period, weighted by amount; negative when paid early.",
    ),
    (
        "reports.aged_def",
        "Montants ouverts au jour dit, par retard depuis l'échéance ; les avoirs comptent en négatif ; jamais de conversion entre devises.",
        "Open amounts on the day, by days past due; credit notes count negative; currencies are never converted.",
    ),
    ("reports.overdue", "Retards en fin de mois", "Overdue at month ends"),
    (
        "reports.overdue_def",
        "Montant échu et impayé à chaque fin de mois, par devise.",
        "Amount past due and unpaid at each month end, per currency.",
    ),
    ("reports.month_end", "Fin de mois", "Month end"),
    ("reports.promises", "Promesses de paiement", "Payment promises"),
    (
        "reports.promises_def",
        "Promesses dont la date promise tombe dans la période ; taux = tenues / (tenues + non tenues).",
        "Promises whose promised date falls in the period; rate = kept / (kept + broken).",
    ),
    ("reports.kept", "Tenues", "Kept"),
    ("reports.broken", "Non tenues", "Broken"),
    ("reports.pending", "En attente", "Pending"),
    ("reports.lapsed", "Caduques", "Lapsed"),
    ("reports.cancelled", "Annulées", "Cancelled"),
    ("reports.kept_rate", "Taux tenu", "Kept rate"),
    ("reports.cash", "Lettrage automatique", "Cash application"),
    ("reports.rate", "Taux", "Rate"),
    ("reports.part", "Partie", "Part"),
    ("reports.whole", "Sur", "Of"),
    ("reports.definition", "Définition", "Definition"),
    ("reports.reminders", "Relances envoyées", "Reminders sent"),
    ("reports.step", "Étape", "Step"),
    ("reports.channel", "Canal", "Channel"),
    ("reports.sent", "Envoyées", "Sent"),
    ("reports.replies", "Réponses par intention", "Replies by intent"),
    (
        "reports.replies_def",
        "Réponses reçues sur la période, sous l'intention corrigée quand quelqu'un l'a corrigée.",
        "Replies received in the period, under the corrected intent when someone corrected it.",
    ),
    ("reports.count", "Nombre", "Count"),
    ("rate.envelope_auto", "Paiements appliqués automatiquement", "Payments applied automatically"),
    (
        "rate.envelope_auto_def",
        "Crédits que le rapprochement a appliqués seul (annulés depuis ou non), sur tous les crédits.",
        "Credits the matcher applied by itself (undone since or not), over all credits.",
    ),
    ("rate.line_item", "Factures soldées automatiquement", "Invoices settled automatically"),
    (
        "rate.line_item_def",
        "Factures soldées par des affectations automatiques en vigueur, sur les factures soldées par des affectations de quiconque.",
        "Invoices settled by live automatic allocations, over invoices settled by live allocations of anyone.",
    ),
    ("rate.review", "Paiements examinés", "Payments reviewed"),
    (
        "rate.review_def",
        "Crédits que le rapprochement a examinés sans les appliquer (envoyés à une personne), sur tous les crédits.",
        "Credits the matcher looked at and did not apply (left to a person), over all credits.",
    ),
    ("rate.false_match", "Erreurs automatiques annulées", "Automatic matches undone"),
    (
        "rate.false_match_def",
        "Crédits appliqués automatiquement dont une personne a annulé une affectation, sur les crédits appliqués automatiquement.",
        "Automatic matches with an allocation a person undid, over automatic matches.",
    ),
    ("intent.promise_to_pay", "Promesse de paiement", "Promise to pay"),
    ("intent.dispute", "Litige", "Dispute"),
    ("intent.already_paid", "Déjà payé", "Already paid"),
    ("intent.payment_plan_request", "Demande d'échéancier", "Payment plan request"),
    ("intent.invoice_copy_request", "Demande de copie", "Invoice copy request"),
    ("intent.auto_reply", "Réponse automatique", "Auto-reply"),
    ("intent.other", "Autre", "Other"),
    ("intent.none", "Non comprise", "Not understood"),
    ("reports.history_exhausted", "historique insuffisant : borne basse", "history too short: a lower bound"),
    ("ops.title", "Exploitation", "Operations"),
    ("ops.quarantine", "Quarantaine", "Quarantine"),
    ("ops.outbox_failed", "Relances en échec", "Failed reminders"),
    ("ops.connectors", "Connecteurs", "Connectors"),
    ("ops.source", "Source", "Source"),
    ("ops.item", "Élément", "Item"),
    ("ops.position", "Position", "Position"),
    ("ops.reason", "Motif", "Reason"),
    ("ops.excerpt", "Extrait", "Excerpt"),
    ("ops.handle", "Traiter", "Handle"),
    ("ops.kept", "Copie conservée :", "Copy kept:"),
    ("ops.read_again", "Relire", "Read again"),
    ("ops.dismiss", "Classer", "Dismiss"),
    ("ops.dismiss_note", "Motif (facultatif)", "Why (optional)"),
    ("ops.outbox_sent", "Derniers envois", "Last sent"),
    ("ops.sent_at", "Envoyé le", "Sent at"),
    ("ops.customer", "Client", "Customer"),
    ("ops.step", "Étape", "Step"),
    ("ops.channel", "Canal", "Channel"),
    ("ops.recipient", "Destinataire", "Recipient"),
    ("ops.subject", "Objet", "Subject"),
    ("ops.retry", "Réessayer", "Retry"),
    ("ops.empty", "Rien.", "Nothing."),
    ("ops.error", "Erreur", "Error"),
    ("ops.runs", "Passages", "Runs"),
    ("ops.last_success", "Dernier succès", "Last success"),
    ("customer.title", "Client", "Customer"),
    ("customer.open_items", "Éléments ouverts", "Open items"),
    ("customer.invoice", "Facture", "Invoice"),
    ("customer.due", "Échéance", "Due"),
    ("customer.open", "Reste dû", "Open"),
    ("customer.status", "État", "Status"),
    ("approvals.as_sent", "Tel qu'il partirait maintenant", "As it would go out now"),
    ("approvals.recipients", "Destinataires", "Recipients"),
    ("approvals.postal", "adresse postale du client", "the customer's postal address"),
    ("approvals.no_recipient", "aucun destinataire : l'envoi échouera", "no recipient: sending will fail"),
    ("approvals.undeliverable", "Adresses écartées (en échec)", "Addresses left out (failing)"),
    (
        "approvals.no_connector",
        "Aucun connecteur de ce locataire ne délivre ce canal.",
        "No connector of this tenant delivers this channel.",
    ),
    ("approvals.sms_units_gsm", "caractères (alphabet GSM)", "characters (GSM alphabet)"),
    ("approvals.sms_units_ucs2", "caractères (Unicode)", "characters (Unicode)"),
    ("approvals.sms_parts", "SMS", "SMS"),
    ("approvals.email_preview", "Aperçu du courriel", "E-mail preview"),
    ("approvals.document", "La lettre (PDF)", "The letter (PDF)"),
    ("approvals.title", "Relances à valider", "Reminders to approve"),
    ("approvals.empty", "Aucune relance n'attend de validation.", "No reminder waits for approval."),
    ("approvals.select", "Sélectionner", "Select"),
    ("approvals.customer", "Client", "Customer"),
    ("approvals.step", "Étape", "Step"),
    ("approvals.channel", "Canal", "Channel"),
    ("approvals.invoices", "Factures", "Invoices"),
    ("approvals.subject", "Objet", "Subject"),
    ("approvals.body", "Texte", "Text"),
    ("approvals.preview", "Aperçu", "Preview"),
    ("approvals.status", "État", "Status"),
    ("approvals.why", "Pourquoi cette relance", "Why this reminder"),
    ("approvals.approve", "Valider et envoyer", "Approve and send"),
    ("approvals.approve_selected", "Valider la sélection", "Approve the selection"),
    ("approvals.reason", "Motif d'annulation", "Reason for cancelling"),
    ("approvals.cancel", "Annuler cette relance", "Cancel this reminder"),
    ("customer.next", "Prochaine étape", "Next step"),
    ("customer.no_scenario", "Rien de dû, ou aucun scénario ne s'applique.", "Nothing due, or no scenario applies."),
    ("customer.outlook_wait", "En attente", "Waiting"),
    ("customer.outlook_held", "Suspendue (virement à vérifier)", "Held (credit to review)"),
    ("customer.outlook_handed_over", "Transmis au recouvrement", "Handed over to collection"),
    ("customer.outlook_nothing", "Rien à envoyer", "Nothing to send"),
    ("customer.resolution", "Issue du litige", "Dispute outcome"),
    ("customer.resolve", "Clore le litige", "Resolve the dispute"),
    ("customer.note", "Note", "Note"),
    ("customer.notes", "Notes", "Notes"),
    ("customer.add_note", "Ajouter la note", "Add the note"),
    ("customer.holds", "Suspensions des relances", "Reminder holds"),
    ("customer.no_hold", "Aucune suspension.", "No hold."),
    ("customer.whole_customer", "Tout le client", "The whole customer"),
    ("customer.until", "Jusqu'au", "Until"),
    ("customer.reason", "Motif", "Reason"),
    ("customer.hold", "Suspendre les relances", "Hold reminders"),
    ("customer.lift", "Lever", "Lift"),
    ("customer.promises", "Promesses de paiement", "Promises to pay"),
    ("customer.promise_date", "Date promise", "Promised date"),
    ("customer.amount", "Montant", "Amount"),
    ("customer.record_promise", "Enregistrer la promesse", "Record the promise"),
    ("customer.tasks", "Tâches ouvertes", "Open tasks"),
    ("customer.task", "Tâche", "Task"),
    ("customer.create_task", "Créer la tâche", "Create the task"),
    ("customer.close_task", "Terminer", "Close"),
    ("customer.totals", "Totaux par devise", "Totals per currency"),
    ("customer.currency", "Devise", "Currency"),
    ("customer.total_invoices", "Factures ouvertes", "Open invoices"),
    ("customer.total_credit_notes", "Avoirs", "Credit notes"),
    ("customer.unapplied", "Paiements non affectés", "Unapplied payments"),
    ("customer.balance", "Solde", "Balance"),
    ("customer.nothing_open", "Rien d'ouvert.", "Nothing open."),
    ("customer.kind", "Type", "Kind"),
    ("customer.issued", "Émise le", "Issued"),
    ("customer.actions", "Actions", "Actions"),
    ("customer.first_items", "Premiers éléments", "First items"),
    ("customer.next_items", "Éléments suivants", "Next items"),
    ("customer.payment", "Paiement", "Payment"),
    ("customer.booked", "Reçu le", "Booked on"),
    ("customer.unallocated", "Non affecté", "Unallocated"),
    ("customer.payer", "Payeur", "Payer"),
    ("customer.via", "Lien avec le client", "Link to the customer"),
    ("customer.none", "Aucun.", "None."),
    ("customer.contacts", "Contacts", "Contacts"),
    ("customer.since", "depuis le", "since"),
    ("customer.timeline", "Historique", "Timeline"),
    ("customer.more", "Plus ancien", "Older"),
    ("customer.latest", "Revenir au plus récent", "Back to the most recent"),
    ("customer.empty_timeline", "Rien encore.", "Nothing yet."),
    ("item.invoice", "Facture", "Invoice"),
    ("item.credit_note", "Avoir", "Credit note"),
    ("via.partly_applied", "Déjà affecté en partie à ses factures", "Partly applied to its invoices"),
    ("via.known_account", "Venu d'un compte connu du client", "From a known account of the customer"),
    ("via.candidate", "Candidat dans la file d'examen (non compté)", "Candidate in the review queue (not counted)"),
    ("contact.ok", "joignable", "reachable"),
    (
        "contact.undeliverable",
        "INJOIGNABLE : plus aucune relance n'y est envoyée",
        "UNDELIVERABLE: no reminder is sent to it",
    ),
    ("contact.away", "absent jusqu'au", "away until"),
    ("event.invoice_issued", "Facture émise", "Invoice issued"),
    ("event.credit_note_issued", "Avoir émis", "Credit note issued"),
    ("event.payment_applied", "Paiement affecté", "Payment applied"),
    ("event.payment_undone", "Affectation annulée", "Allocation undone"),
    ("event.reminder", "Relance", "Reminder"),
    ("event.reply_received", "Réponse reçue", "Reply received"),
    ("event.promise", "Promesse de paiement", "Promise to pay"),
    ("event.dispute_opened", "Litige ouvert", "Dispute opened"),
    ("event.dispute_resolved", "Litige clos", "Dispute resolved"),
    ("event.task_created", "Tâche créée", "Task created"),
    ("event.task_closed", "Tâche terminée", "Task closed"),
    ("event.note_added", "Note", "Note"),
    ("event.hold_placed", "Relances suspendues", "Reminders held"),
    ("event.hold_lifted", "Suspension levée", "Hold lifted"),
    ("event.automatic", "automatiquement", "automatically"),
    ("event.by", "par", "by"),
    ("event.open_reminder", "Voir la relance", "View the reminder"),
    ("event.open_reply", "Lire la réponse", "Read the reply"),
    ("outbox.to_confirm", "à valider", "to confirm"),
    ("outbox.queued", "en attente d'envoi", "queued"),
    ("outbox.sending", "en cours d'envoi", "sending"),
    ("outbox.sent", "envoyée", "sent"),
    ("outbox.failed", "échec", "failed"),
    ("outbox.cancelled", "annulée", "cancelled"),
    ("resolution.customer_wrong", "Réclamation rejetée : la facture est due", "Objection rejected: the invoice is due"),
    ("resolution.withdrawn", "Réclamation retirée par le client", "Objection withdrawn by the customer"),
    (
        "resolution.credit_note_expected",
        "Client dans son droit : un avoir suivra",
        "Customer is right: a credit note will follow",
    ),
    ("ops.tasks", "Tâches ouvertes", "Open tasks"),
    ("ops.broken", "Promesses non tenues", "Broken promises"),
    ("common.previous", "Précédent", "Previous"),
    ("common.next", "Suivant", "Next"),
    ("common.first", "Début de la liste", "First page"),
    ("error.not_found", "Cette page n'existe pas.", "This page does not exist."),
    ("error.forbidden", "Vous n'avez pas le droit de faire cela.", "You are not allowed to do this."),
    (
        "error.csrf",
        "Le formulaire a expiré ou ne vient pas de cette application : rechargez la page.",
        "The form expired or did not come from this application: reload the page.",
    ),
    (
        "error.internal",
        "Une erreur interne est survenue ; elle est journalisée.",
        "An internal error occurred; it is logged.",
    ),
];

/// The word for `key` in `lang`, or the key itself when missing (a test
/// keeps that from happening).
pub fn text(lang: Language, key: &str) -> &str {
    match WORDS.iter().find(|(k, _, _)| *k == key) {
        Some((_, fr, en)) => match lang {
            Language::Fr => fr,
            Language::En => en,
        },
        None => key,
    }
}

/// Whether `key` is known.
#[cfg(test)]
pub fn known(key: &str) -> bool {
    WORDS.iter().any(|(k, _, _)| *k == key)
}

/// Whether some key starts with `prefix`.
#[cfg(test)]
pub fn known_prefix(prefix: &str) -> bool {
    WORDS.iter().any(|(k, _, _)| k.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_the_customer_page_shows_has_its_words() {
        use relance_store::{ContactState, OpenItemKind, OutboxStatus, UnappliedVia};
        let text_of = |v: serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
        let mut keys: Vec<String> = Vec::new();
        for s in OutboxStatus::ALL {
            keys.push(format!("outbox.{}", s.as_str()));
        }
        for c in ContactState::ALL {
            keys.push(format!("contact.{}", c.as_str()));
        }
        for k in [OpenItemKind::Invoice, OpenItemKind::CreditNote] {
            keys.push(format!("item.{}", text_of(serde_json::to_value(k).unwrap_or_default())));
        }
        for v in [UnappliedVia::PartlyApplied, UnappliedVia::KnownAccount, UnappliedVia::Candidate] {
            keys.push(format!("via.{}", text_of(serde_json::to_value(v).unwrap_or_default())));
        }
        for k in keys {
            assert!(known(&k), "no words for `{k}`");
        }
    }

    #[test]
    fn keys_are_unique_and_translated() {
        let mut keys: Vec<&str> = WORDS.iter().map(|w| w.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "a key is listed twice");
        for (k, fr, en) in WORDS {
            assert!(!fr.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(text(Language::Fr, "nav.today"), "Aujourd'hui");
        assert_eq!(text(Language::En, "nav.today"), "Today");
    }
}
