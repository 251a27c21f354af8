// Package response decides what an alert, an acknowledgement or a resolve
// does to an incident. It is pure: no clock, no storage, no network. Each
// decision takes the state before (the incident and what the store loaded
// for it), the policy and the instant, and returns Effects — plain data the
// store applies in the transaction that loaded the state. The store decides
// nothing; routing rules and response plans plug in here.
//
// The entry points are Ingest (one alert), Warnings (the ignored request
// parameters of one intake request), Acknowledge, Resolve and Deescalate.
//
// # An alert
//
// An alert joins the open incident with its source and dedup key (the
// store looks under the alert's legacy key too), or opens one:
//
//   - No incident open: a firing alert opens one, with the impact its
//     severity maps to (tocsin.Policy.ImpactFor), "Incident opened" on the
//     timeline, and: one "opened" notification per policy channel (none
//     for a quiet request, such as a test page), with the request's
//     destination overrides; the ack-or-escalate timer when the request
//     arms on-call (due after its wait, with "On-call armed" on the
//     timeline); the reminder timer when the policy re-notifies. A resolve
//     or a PagerDuty acknowledge for nothing open changes nothing.
//   - An alert new to the open incident is attached: counted (open unless
//     it is a resolve), the incident's impact raised when the alert's is
//     higher (a lower number), both on the timeline.
//   - A known alert is updated with what it says now, except that a
//     resolve changes only its status and end (senders such as PagerDuty
//     send nothing else) and a PagerDuty acknowledge changes nothing of
//     it. Firing → resolved and resolved → firing move the open count and
//     go on the timeline; a repeat of a firing alert adds nothing.
//   - A PagerDuty acknowledge of a triggered incident acknowledges it, as
//     the sender; a resolve that leaves no open alert resolves the
//     incident when the policy auto-resolves, as "all alerts resolved".
//     Both are follow-up decisions (Effects.Acknowledge, Effects.Resolve)
//     made by Acknowledge and Resolve on the state after the alert's.
//
// Every incident one intake request touched gets the request parameters
// intake ignored on its timeline, once (Warnings).
//
// # Acknowledge and resolve
//
// Acknowledging a triggered incident, or resolving one that is not
// resolved, records who did it on the timeline, cancels the reminder and
// the ack-or-escalate timer (the timeline says so when an escalation was
// pending, or that its answer is still recorded when a worker was already
// escalating), stops the incident's engagements and their pending pages,
// and tells every policy channel. A resolve also resolves the incident's
// alerts, and queues the resolve at every on-call provider the incident
// was escalated to (one per reference an escalation saved). Anything else
// (acknowledging twice, resolving a resolved incident) changes nothing.
//
// # The incident record
//
// Start opens an incident by hand: triggered, with the request's title,
// impact (medium when none is given), summary, tags, plan and trigger,
// the source "manual" and its own id as dedup key (so it never absorbs
// alerts nor is absorbed), its related items, "Incident started by …" on
// the timeline, and the channels told and the reminder armed as for an
// alert's incident. (A repeat of a client token is found by the store
// before anything is decided.)
//
// Triage changes title, summary and impact: each field that changes goes
// on the timeline with who changed it and its old and new values (data
// field, old, new); a field set to what it is adds nothing. A status asks
// for the acknowledgement or resolve it names, decided by Acknowledge or
// Resolve. An impact change tells no channel: the channels' templates
// have no message for it yet (the response plans' lifecycle
// notifications will carry it).
//
// A responder's custom event or note is recorded at its event time with
// its author (TimelineEvent). Only its author — the same "by" name, as
// there are no users yet — may edit or delete it, never one written
// without a name, and never an event tocsin wrote (Editable); an edit or
// deletion puts an audit event on the timeline, without the text (Edit,
// Deleted).
//
// A related item added goes on the timeline; a parent link goes on the
// parent's timeline too (AddItem). Whether the other incident exists and
// whether a parent link makes a cycle are read by the store.
package response
