package tocsin

import (
	"strings"
	"time"
)

// DefaultImpacts maps common severity words to impact: critical→1,
// high/error→2, warning→3, info→4.
func DefaultImpacts() map[string]int {
	return map[string]int{
		"critical": ImpactCritical, "crit": ImpactCritical, "fatal": ImpactCritical, "emergency": ImpactCritical, "p1": ImpactCritical, "sev1": ImpactCritical,
		"high": ImpactHigh, "error": ImpactHigh, "err": ImpactHigh, "major": ImpactHigh, "p2": ImpactHigh, "sev2": ImpactHigh,
		"warning": ImpactMedium, "warn": ImpactMedium, "medium": ImpactMedium, "minor": ImpactMedium, "p3": ImpactMedium, "sev3": ImpactMedium,
		"info": ImpactLow, "informational": ImpactLow, "low": ImpactLow, "p4": ImpactLow, "sev4": ImpactLow,
		"none": ImpactNone, "debug": ImpactNone, "ok": ImpactNone, "p5": ImpactNone, "sev5": ImpactNone,
	}
}

// Policy holds the incident rules applied while alerts are ingested.
type Policy struct {
	// Channels are the names of the channels notified about every incident.
	Channels []string
	// AutoResolve resolves an incident when all its alerts are resolved.
	AutoResolve bool
	// Impacts maps a lower-cased severity to an impact (see DefaultImpacts).
	Impacts map[string]int
	// DefaultImpact is used for severities not in Impacts (3 when zero).
	DefaultImpact int
	// RenotifyAfter, when positive, re-notifies unacknowledged incidents.
	RenotifyAfter time.Duration
}

// ImpactFor returns the impact of a severity under the policy.
func (p *Policy) ImpactFor(severity string) int {
	if i, ok := p.Impacts[strings.ToLower(strings.TrimSpace(severity))]; ok && i >= ImpactCritical && i <= ImpactNone {
		return i
	}
	if p.DefaultImpact >= ImpactCritical && p.DefaultImpact <= ImpactNone {
		return p.DefaultImpact
	}
	return ImpactMedium
}
