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
    ("cash.empty", "Aucun paiement à examiner.", "No payment to review."),
    ("cash.remittance", "Libellé", "Remittance"),
    ("cash.candidates", "Explications possibles", "Possible explanations"),
    ("cash.customer", "Client", "Customer"),
    ("cash.invoices", "Factures", "Invoices"),
    ("cash.confidence", "Confiance", "Confidence"),
    ("cash.reasons", "Raisons", "Reasons"),
    ("cash.decision", "Pourquoi pas automatique", "Why not automatic"),
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
    (
        "reports.largest",
        "Les clients qui doivent le plus, par devise (le tableau complet : API et CSV)",
        "The customers who owe the most, per currency (the whole table: API and CSV)",
    ),
    ("reports.total", "Total", "Total"),
    ("reports.as_of", "Au", "As of"),
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
