//! Advice in plain words: what to change for each source that fails, and whether the domain
//! can tighten its policy.

use super::numbers::{percent, thousands};
use super::{Classification, Period, PublishedPolicy, Readiness, SourceAggregate, rate, total};
use ruadb_report::Policy;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The share of the domain's own mail that must be aligned before a stricter policy is
/// advised. Below it, tightening would send a noticeable part of real mail to spam.
pub const READY_THRESHOLD: f64 = 0.98;
/// How many weeks, ending with the period, the readiness is judged over.
pub(crate) const READINESS_WEEKS: u32 = 4;

/// The advice for one source of `domain`: for misaligned and unauthenticated sources with
/// mail; none for aligned and forwarded ones (nothing the domain owner can change).
pub(crate) fn for_source(
    domain: &str,
    source: &SourceAggregate,
    policy: Option<&Policy>,
) -> Option<String> {
    let summary = &source.summary;
    if summary.messages == 0 {
        return None;
    }
    let ip = &summary.source_ip;
    match summary.classification {
        Classification::Aligned | Classification::Forwarded => None,
        Classification::Misaligned => {
            let spf = list(&source.spf_pass_domains);
            let dkim = list(&source.dkim_pass_domains);
            let fix = format!("set a custom return-path under {domain} or sign with d={domain}");
            Some(match (spf, dkim) {
                (Some(spf), Some(dkim)) => format!(
                    "{ip} — SPF passes for {spf} and DKIM passes for {dkim}, neither aligned \
                     with {domain}: {fix}"
                ),
                (Some(spf), None) => format!(
                    "{ip} — SPF passes for {spf}, not aligned with {domain}, and no DKIM \
                     signature passes: {fix}"
                ),
                (None, Some(dkim)) => format!(
                    "{ip} — DKIM passes for {dkim}, not aligned with {domain}, and SPF does \
                     not pass: sign with d={domain}, or set a custom return-path under \
                     {domain} and add this sender to its SPF record"
                ),
                // A misaligned majority needs a pass somewhere; without one listed (the
                // records that passed carried no domain) say what is known.
                (None, None) => format!("{ip} — authenticates, but not as {domain}: {fix}"),
            })
        }
        Classification::Unauthenticated => {
            let consequence = if policy == Some(&Policy::Reject) {
                "if not, it is spoofing, and your p=reject already asks receivers to refuse it"
            } else {
                "if not, it is spoofing that p=reject would stop"
            };
            Some(format!(
                "{ip} — no SPF or DKIM pass: if this is yours, add it to SPF or sign it with \
                 DKIM; {consequence}"
            ))
        }
    }
}

/// `a, b and c`, `a, b, c and 2 more`; `None` when empty.
fn list(domains: &BTreeSet<Arc<str>>) -> Option<String> {
    const SHOWN: usize = 3;
    let names: Vec<&str> = domains.iter().map(|name| &**name).collect();
    match names.as_slice() {
        [] => None,
        [one] => Some((*one).to_owned()),
        _ if names.len() > SHOWN => Some(format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )),
        [first @ .., last] => Some(format!("{} and {last}", first.join(", "))),
    }
}

/// Readiness over `window` from the sources classified over that window, given as (class,
/// messages, DMARC pass); `None` when the window has no mail.
pub(crate) fn readiness(
    window: Period,
    sources: &[(Classification, u64, u64)],
    policy: Option<&PublishedPolicy>,
) -> Option<Readiness> {
    let messages = total(sources.iter().map(|(_, messages, _)| *messages));
    if messages == 0 {
        return None;
    }
    let own = sources.iter().filter(|(class, _, _)| {
        matches!(class, Classification::Aligned | Classification::Misaligned)
    });
    let own_messages = total(own.clone().map(|(_, messages, _)| *messages));
    let own_aligned = total(own.map(|(_, _, dmarc_pass)| *dmarc_pass));
    let would_reject = total(
        sources
            .iter()
            .filter(|(class, _, _)| *class != Classification::Forwarded)
            .map(|(_, messages, dmarc_pass)| messages.saturating_sub(*dmarc_pass)),
    );
    let own_aligned_rate = rate(own_aligned, own_messages);
    let current_policy = policy.and_then(|policy| policy.p.clone());
    // Compared on exact counts, not on the rounded rate: 97.996% is not 98%.
    let ready = own_messages > 0 && own_aligned as f64 >= READY_THRESHOLD * own_messages as f64;
    let ready_for = match current_policy {
        _ if !ready => None,
        None | Some(Policy::None) => Some(Policy::Quarantine),
        Some(Policy::Quarantine) => Some(Policy::Reject),
        Some(_) => None,
    };
    Some(Readiness {
        window,
        own_messages,
        own_aligned,
        own_aligned_rate,
        messages,
        would_reject,
        would_reject_rate: rate(would_reject, messages),
        current_policy,
        ready_for,
    })
}

/// The readiness advice line, when there is something to say.
pub(crate) fn for_readiness(readiness: &Readiness) -> Option<String> {
    let aligned = percent(readiness.own_aligned_rate?);
    let weeks = format!(
        "over {} ({} messages from your own sources)",
        readiness.window,
        thousands(readiness.own_messages)
    );
    let rejected = format!(
        "p=reject would have rejected {} of all mail ({} messages; forwarded mail excluded)",
        readiness.would_reject_rate.map(percent).unwrap_or_default(),
        thousands(readiness.would_reject)
    );
    let threshold = percent(READY_THRESHOLD);
    if let Some(next) = &readiness.ready_for {
        return Some(format!(
            "Ready for p={next}: {aligned} of your own mail was aligned {weeks}; {rejected}."
        ));
    }
    match &readiness.current_policy {
        Some(Policy::Reject) if readiness.own_aligned_rate < Some(READY_THRESHOLD) => {
            Some(format!(
                "p=reject is published but only {aligned} of your own mail was aligned {weeks}: \
             receivers refuse the rest; fix the misaligned sources below."
            ))
        }
        Some(Policy::Reject) => None,
        policy => Some(format!(
            "Not ready to go beyond p={}: {aligned} of your own mail was aligned {weeks}, \
             {threshold} is needed; fix the misaligned sources below first.",
            policy.as_ref().unwrap_or(&Policy::None)
        )),
    }
}
