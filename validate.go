package tocsin

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	aliasPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ValidName reports whether s can name a contact, rotation, schedule or plan.
func ValidName(s string) bool { return aliasPattern.MatchString(s) }

// problems collects validation problems and turns them into one EINVALID.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(what string) error {
	if len(p) == 0 {
		return nil
	}
	return Errorf(EINVALID, "%s: %s", what, strings.Join(p, "; "))
}

// Validate checks a contact; every problem names its field.
func (c *Contact) Validate() error {
	var p problems
	if !ValidName(c.Alias) {
		p.add("alias: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", c.Alias)
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" {
			p.add("time_zone: %q is not an IANA time zone", c.TimeZone)
		}
	}
	names := map[string]bool{}
	for i, ch := range c.Channels {
		f := fmt.Sprintf("channels[%d]", i)
		if !ValidName(ch.Name) {
			p.add("%s.name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", f, ch.Name)
		} else if names[ch.Name] {
			p.add("%s.name: %q is used twice", f, ch.Name)
		}
		names[ch.Name] = true
		if msg := checkAddress(ch.Type, ch.Address); msg != "" {
			p.add("%s.%s", f, msg)
		}
	}
	for i, st := range c.EngagementPlan {
		f := fmt.Sprintf("engagement_plan[%d]", i)
		if !names[st.Channel] {
			p.add("%s.channel: %q is not one of the contact's channels", f, st.Channel)
		}
		if st.After < 0 || st.After.Std() > 24*time.Hour {
			p.add("%s.after: %s is not between 0 and 24h", f, st.After.Std())
		}
		if st.RetryInterval != 0 && (st.RetryInterval.Std() < time.Minute || st.RetryInterval.Std() > MaxRetryInterval) {
			p.add("%s.retry_interval: %s is not between 1m and %s", f, st.RetryInterval.Std(), MaxRetryInterval)
		}
		switch {
		case st.Retries < 0 || st.Retries > MaxRetries:
			p.add("%s.retries: %d is not between 0 and %d", f, st.Retries, MaxRetries)
		case st.Retries > 0 && st.RetryInterval == 0:
			p.add("%s.retries: needs a retry_interval (how long to wait between re-pages)", f)
		}
	}
	return p.err("contact " + c.Alias)
}

// checkAddress validates a channel's address for its type.
func checkAddress(typ, addr string) string {
	switch typ {
	case ChannelEmail:
		if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
			return fmt.Sprintf("address: %q is not an email address", addr)
		}
	case ChannelSMS, ChannelVoice:
		if !phonePattern.MatchString(addr) {
			return fmt.Sprintf("address: %q is not an E.164 phone number like +15551234567", addr)
		}
	case ChannelSlack, ChannelTelegram:
		if strings.TrimSpace(addr) == "" || strings.ContainsAny(addr, " \r\n") {
			return fmt.Sprintf("address: %q is not a %s id", addr, typ)
		}
	case ChannelWebhook:
		if u, err := url.Parse(addr); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "address: not an http(s) URL"
		}
	default:
		return fmt.Sprintf("type: %q is not email, sms, voice, slack, telegram or webhook", typ)
	}
	return ""
}

// Validate checks an escalation plan's shape (not that its targets exist).
func (e *EscalationPlan) Validate() error {
	var p problems
	if !ValidName(e.Name) {
		p.add("name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", e.Name)
	}
	if e.Repeat < 0 || e.Repeat > 100 {
		p.add("repeat: %d is not between 0 and 100", e.Repeat)
	}
	if len(e.Stages) == 0 {
		p.add("stages: at least one stage is required")
	}
	for i, st := range e.Stages {
		f := fmt.Sprintf("stages[%d]", i)
		if st.Duration < 0 || st.Duration.Std() > 7*24*time.Hour {
			p.add("%s.duration: %s is not between 0 and 168h", f, st.Duration.Std())
		}
		if len(st.Targets) == 0 {
			p.add("%s.targets: at least one target is required", f)
		}
		for j, t := range st.Targets {
			n := 0
			for _, v := range []string{t.Contact, t.ContactGroup, t.Schedule, t.EscalationPlan, t.Channel} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				p.add("%s.targets[%d]: exactly one of contact, contact_group, schedule, escalation_plan, channel is required", f, j)
			}
			if t.EscalationPlan == e.Name && e.Name != "" {
				p.add("%s.targets[%d].escalation_plan: a plan cannot engage itself", f, j)
			}
		}
	}
	return p.err("escalation plan " + e.Name)
}

// Validate checks a schedule's shape.
func (s *Schedule) Validate() error {
	var p problems
	if !ValidName(s.Name) {
		p.add("name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", s.Name)
	}
	if len(s.Rotations) == 0 {
		p.add("rotations: at least one rotation is required")
	}
	seen := map[string]bool{}
	for i, r := range s.Rotations {
		if seen[r] {
			p.add("rotations[%d]: %q is listed twice", i, r)
		}
		seen[r] = true
	}
	return p.err("schedule " + s.Name)
}

// Validate checks a contact group's shape (not that its members exist).
func (g *ContactGroup) Validate() error {
	var p problems
	if !ValidName(g.Name) {
		p.add("name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", g.Name)
	}
	if len(g.Members) == 0 {
		p.add("members: at least one contact is required")
	}
	seen := map[string]bool{}
	for i, m := range g.Members {
		if !ValidName(m) {
			p.add("members[%d]: %q is not a contact alias", i, m)
		} else if seen[m] {
			p.add("members[%d]: %q is listed twice", i, m)
		}
		seen[m] = true
	}
	return p.err("contact group " + g.Name)
}

// EscalationLoop returns the first loop among escalation plans that engage
// other plans (by name: "la", "lb", "la"), or nil. plans holds every plan
// as it would be after a change; targets naming plans not in it are
// ignored. Names are visited in sorted order, so the loop reported is
// always the same.
func EscalationLoop(plans map[string]*EscalationPlan) []string {
	names := make([]string, 0, len(plans))
	for n := range plans {
		names = append(names, n)
	}
	slices.Sort(names)
	state := map[string]int{} // 1 on the path, 2 done
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case 1:
			return append(slices.Clone(path[slices.Index(path, name):]), name)
		case 2:
			return nil
		}
		state[name] = 1
		path = append(path, name)
		for _, st := range plans[name].Stages {
			for _, t := range st.Targets {
				if _, ok := plans[t.EscalationPlan]; ok {
					if loop := visit(t.EscalationPlan); loop != nil {
						return loop
					}
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = 2
		return nil
	}
	for _, n := range names {
		if loop := visit(n); loop != nil {
			return loop
		}
	}
	return nil
}

// CheckEscalationLoops refuses escalation plans that engage each other in
// a loop, naming it: the one check behind the API and `tocsin apply`.
func CheckEscalationLoops(plans map[string]*EscalationPlan) error {
	if loop := EscalationLoop(plans); loop != nil {
		return Errorf(EINVALID, "escalation plans engage each other in a loop: %s", strings.Join(loop, " → "))
	}
	return nil
}
