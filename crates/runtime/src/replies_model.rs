//! Tenant reply models: what a tenant's corrections teach (issue #14).
//!
//! A tenant's model is the shipped one plus an overlay trained on its
//! corrections ([`retrain`]): each corrected message's kept raw copy is read
//! again, its features computed as understanding computes them
//! ([`relance_engine::replies::features`]), labelled with the intent its
//! latest correction gives. The overlay learns no bias (see
//! `TrainOptions::learn_bias`): it moves the replies that share the
//! corrected phrasings, not every reply of the tenant. Its accuracy is
//! measured on the corrections it was trained on, next to the shipped
//! model's alone on the same corrections, and it is stored as the tenant's
//! next version; a retraining with no new correction stores nothing.
//!
//! The API asks for a retraining after each correction that changed
//! something, and the daemon once per tenant at start (a correction whose
//! retraining a stop cut short is learned then). [`Retrainer`] runs them
//! on the blocking pool, never in the request, one at a time per tenant: a
//! request while one runs makes it run once more when done.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use relance_domain::TenantId;
use relance_engine::replies::features;
use relance_engine::replies::model::{self, Example, Model, TrainOptions};
use relance_store::{CorrectionSample, NewReplyModel, Store, StoreError};

/// A corrected message that could not be learned from, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub message_id: i64,
    pub why: String,
}

/// A corrected message and the example it gives.
pub type Labelled = (CorrectionSample, Example);

/// The tenant's corrections as labelled examples (the latest correction
/// per message), with the messages whose kept copy could not be read.
pub fn tenant_examples(store: &Store, tenant: &TenantId) -> Result<(Vec<Labelled>, Vec<Skipped>), StoreError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for s in store.correction_samples(tenant)? {
        let raw = match std::fs::read(&s.raw_path) {
            Ok(raw) => raw,
            Err(e) => {
                skipped.push(Skipped { message_id: s.message_id, why: format!("cannot read {}: {e}", s.raw_path) });
                continue;
            }
        };
        match features(&raw, s.received) {
            Ok(f) => {
                let intent = s.intent;
                out.push((s, Example { features: f, intent }));
            }
            Err(e) => skipped.push(Skipped { message_id: s.message_id, why: e.to_string() }),
        }
    }
    Ok((out, skipped))
}

/// Training settings of a tenant overlay.
pub fn overlay_options() -> TrainOptions {
    TrainOptions { learn_bias: false, ..TrainOptions::default() }
}

/// Trains the tenant's overlay on all its corrections and stores it as its
/// next version, unless the latest already learned from the latest
/// correction; returns the version in force (`None`: no correction yet).
pub fn retrain(store: &Store, tenant: &TenantId) -> Result<Option<i64>, StoreError> {
    let Some(through) = store.last_correction(tenant)? else { return Ok(None) };
    if let Some(m) = store.reply_model(tenant)?
        && m.corrections_through == through
    {
        return Ok(Some(m.version));
    }
    let (examples, skipped) = tenant_examples(store, tenant)?;
    for s in &skipped {
        warn!(%tenant, message = s.message_id, why = %s.why, "corrected message left out of the tenant model");
    }
    let examples: Vec<Example> = examples.into_iter().map(|(_, e)| e).collect();
    let base = Model::shipped();
    let overlay = model::train(&examples, Some(base), overlay_options(), &format!("{tenant}-c{through}"));
    let trained = NewReplyModel {
        examples: examples.len() as u32,
        corrections_through: through,
        accuracy: model::accuracy(&examples, base, Some(&overlay)),
        shipped_accuracy: model::accuracy(&examples, base, None),
        overlay: overlay.to_text(),
    };
    let version = store.record_reply_model(tenant, &trained)?;
    info!(%tenant, version, examples = trained.examples, accuracy = trained.accuracy, "tenant reply model trained");
    Ok(Some(version))
}

/// Background retraining, one at a time per tenant (see the module doc).
#[derive(Default)]
pub struct Retrainer {
    /// Per tenant: (running, asked again while running).
    slots: Mutex<HashMap<String, (bool, bool)>>,
}

impl Retrainer {
    /// Asks for the tenant's model to be retrained; returns at once.
    pub fn request(self: &Arc<Self>, store: Store, tenant: TenantId) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            warn!(%tenant, "no runtime to retrain the tenant reply model on");
            return;
        };
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(tenant.to_string()).or_default();
            if slot.0 {
                slot.1 = true;
                return;
            }
            *slot = (true, false);
        }
        let me = self.clone();
        handle.spawn_blocking(move || {
            loop {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| retrain(&store, &tenant))) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => warn!(%tenant, error = %e, "cannot retrain the tenant reply model"),
                    Err(_) => warn!(%tenant, "retraining the tenant reply model panicked"),
                }
                let mut slots = me.slots.lock().unwrap_or_else(|p| p.into_inner());
                let slot = slots.entry(tenant.to_string()).or_default();
                if slot.1 {
                    slot.1 = false;
                    continue;
                }
                slot.0 = false;
                break;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use relance_engine::replies::{Intent, understand, understand_with};

    const DAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();

    fn raw(text: &str) -> Vec<u8> {
        format!(
            "From: client1@client.example\r\nSubject: RE: Relance FAC-1001\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        )
        .into_bytes()
    }

    /// A tenant's code word for a dispute, which the shipped model cannot know.
    const CORRECTED: [&str; 4] = [
        "Dossier classé code rouge chez nous.",
        "Code rouge sur ce dossier, merci.",
        "Code rouge pour celui-ci également.",
        "Classé code rouge par notre service.",
    ];
    const NEW: &str = "Nous classons ce dossier en code rouge.";

    #[test]
    fn an_overlay_trained_on_a_few_corrections_reads_the_phrasing_and_leaves_the_rest() {
        for t in CORRECTED.iter().chain([&NEW]) {
            assert_eq!(understand(&raw(t), DAY).unwrap().intent, Intent::Other, "{t}: the shipped model");
        }
        let examples: Vec<Example> = CORRECTED
            .iter()
            .map(|t| Example { features: features(&raw(t), DAY).unwrap(), intent: Intent::Dispute })
            .collect();
        let base = Model::shipped();
        let overlay = model::train(&examples, Some(base), overlay_options(), "t");
        assert_eq!(overlay.bias, [0.0; model::CLASSES], "no bias learned");
        assert_eq!(model::accuracy(&examples, base, Some(&overlay)), 1.0);
        let read = |t: &str| understand_with(&raw(t), DAY, base, Some(&overlay)).unwrap().intent;
        assert_eq!(read(NEW), Intent::Dispute);
        assert_eq!(read("Le virement partira vendredi."), Intent::PromiseToPay);
        assert_eq!(read("Nous avons payé cette facture le 2 octobre."), Intent::AlreadyPaid);
        assert_eq!(read("Pouvez-vous nous renvoyer la facture ?"), Intent::InvoiceCopyRequest);
    }
}
