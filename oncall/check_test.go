package oncall

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
)

// berlinSaigon is a follow-the-sun pair: Ho Chi Minh City covers 08:00–20:00
// local (UTC+7 all year: 01:00–13:00Z), Berlin 14:00–02:00 local. In winter
// Berlin is UTC+1 (13:00–01:00Z) and the two meet exactly; in summer Berlin
// is UTC+2 (12:00–00:00Z), so 00:00–01:00Z is left uncovered.
func berlinSaigon(t *testing.T) *ResolvedSchedule {
	every := func(start, end string) []CoverageWindow {
		var out []CoverageWindow
		for _, d := range weekdays {
			out = append(out, CoverageWindow{DayOfWeek: d, Start: start, End: end})
		}
		return out
	}
	hcm := daily("Asia/Ho_Chi_Minh", time.Date(2026, 1, 5, 8, 0, 0, 0, mustLoc(t, "Asia/Ho_Chi_Minh")), []string{"natsu", "zeref"}, "08:00")
	hcm.Name, hcm.Coverage = "sun-hcmc", every("08:00", "20:00")
	ber := daily("Europe/Berlin", time.Date(2026, 1, 5, 14, 0, 0, 0, mustLoc(t, "Europe/Berlin")), []string{"lucy", "wendy"}, "14:00")
	ber.Name, ber.Coverage = "sun-berlin", every("14:00", "02:00")
	return &ResolvedSchedule{Name: "follow-the-sun", Rotations: []*Rotation{hcm, ber}}
}

func activated(alias string, channels ...string) *tocsin.Contact {
	c := &tocsin.Contact{Alias: alias, Name: alias}
	for i, ch := range channels {
		c.Channels = append(c.Channels, tocsin.ContactChannel{Name: ch, Type: tocsin.ChannelEmail, Address: alias + "@example.com", Activated: i == 0 || ch != "sms"})
	}
	return c
}

func TestScheduleOnCallByRotationFollowTheSun(t *testing.T) {
	s := berlinSaigon(t)
	for _, c := range []struct {
		at   string
		want [2][]string
	}{
		{"2026-01-05T03:00:00Z", [2][]string{{"natsu"}, {}}}, // Monday, Saigon's day
		{"2026-01-06T03:00:00Z", [2][]string{{"zeref"}, {}}}, // Tuesday: the next in turn
		{"2026-01-06T18:00:00Z", [2][]string{{}, {"wendy"}}}, // Berlin's evening
		{"2026-01-07T00:30:00Z", [2][]string{{}, {"wendy"}}}, // 01:30 in Berlin, still Tuesday's shift
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		got, err := s.OnCallByRotation(nil, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Rotation != "sun-hcmc" || got[1].Rotation != "sun-berlin" ||
			!slices.Equal(got[0].OnCall, c.want[0]) || !slices.Equal(got[1].OnCall, c.want[1]) {
			t.Errorf("at %s: %+v, want %v", c.at, got, c.want)
		}
	}
}

func TestScheduleCheckFollowTheSunDSTGap(t *testing.T) {
	s := &Setup{Schedules: map[string]*ResolvedSchedule{"follow-the-sun": berlinSaigon(t)}}
	day := 24 * time.Hour

	// January: the two zones meet, no gap.
	jan := time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)
	got, err := Check(s, jan, jan.Add(7*day))
	if err != nil || len(got) != 0 {
		t.Fatalf("January: %v %+v", err, got)
	}

	// July: Berlin's evening ends an hour earlier in UTC; 00:30 UTC is
	// uncovered every day.
	jul := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	got, err = Check(s, jul, jul.Add(7*day))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("July: %d findings, want 7 (one a night): %+v", len(got), got)
	}
	for i, f := range got {
		wantFrom := jul.Add(time.Duration(i) * day)
		if f.Kind != "schedule" || f.Name != "follow-the-sun" || f.Problem != FindingGap ||
			!f.From.Equal(wantFrom) || !f.To.Equal(wantFrom.Add(time.Hour)) {
			t.Errorf("finding %d: %+v, want a gap %s–01:00Z", i, f, wantFrom.Format(time.RFC3339))
		}
		if at := wantFrom.Add(30 * time.Minute); at.Before(*f.From) || !at.Before(*f.To) {
			t.Errorf("00:30 UTC is not in %+v", f)
		}
	}
	if want := "schedule follow-the-sun has nobody on call from 2026-07-06T00:00:00Z to 2026-07-06T01:00:00Z (1h0m0s)"; got[0].Message != want {
		t.Errorf("message %q, want %q", got[0].Message, want)
	}
	who, _ := s.Schedules["follow-the-sun"].OnCall(nil, time.Date(2026, 7, 8, 0, 30, 0, 0, time.UTC))
	if len(who) != 0 {
		t.Fatalf("00:30 UTC in July: %v on call", who)
	}
}

func TestPlanCheckFindsUnreachablePlans(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	week := now.Add(7 * 24 * time.Hour)
	later := daily("UTC", now.Add(30*24*time.Hour), []string{"ann"}, "09:00")
	later.Name = "later"
	always := daily("UTC", now.Add(-time.Hour), []string{"ann"}, "09:00")
	always.Name = "always"
	office := daily("UTC", now.Add(-time.Hour), []string{"ann"}, "09:00")
	office.Name = "office"
	for _, d := range []string{"MON", "TUE", "WED", "THU", "FRI"} {
		office.Coverage = append(office.Coverage, CoverageWindow{DayOfWeek: d, Start: "09:00", End: "17:00"})
	}
	unactivated := &tocsin.Contact{Alias: "ben", Channels: []tocsin.ContactChannel{{Name: "mail", Type: "email", Address: "b@example.com"}}}
	s := &Setup{
		Contacts: map[string]*tocsin.Contact{"ann": activated("ann", "mail"), "ben": unactivated},
		Groups:   map[string]*tocsin.ContactGroup{"dark": {Name: "dark", Members: []string{"ben"}}},
		Schedules: map[string]*ResolvedSchedule{
			"later":  {Name: "later", Rotations: []*Rotation{later}},
			"always": {Name: "always", Rotations: []*Rotation{always}},
			"office": {Name: "office", Rotations: []*Rotation{office}},
		},
		Plans: map[string]*tocsin.EscalationPlan{
			"empty-week": {Name: "empty-week", Stages: []tocsin.Stage{
				{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Schedule: "later"}}},
				{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Schedule: "later"}, {Channel: "slack"}}},
			}},
			"unactivated": {Name: "unactivated", Stages: []tocsin.Stage{
				{Targets: []tocsin.Target{{Contact: "ben"}}},
				{Targets: []tocsin.Target{{ContactGroup: "dark"}}},
			}},
			"fine":     {Name: "fine", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{Schedule: "always"}}}}},
			"office":   {Name: "office", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{Schedule: "office"}}}}},
			"fallback": {Name: "fallback", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{Schedule: "office"}}}, {Targets: []tocsin.Target{{EscalationPlan: "fine"}}}}},
		},
	}
	check := func(plan string) []Finding {
		t.Helper()
		got, err := CheckPlan(s, plan, now, week)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := check("empty-week"); len(got) != 1 || got[0].Problem != FindingUnreachable ||
		!strings.Contains(got[0].Message, "schedule later has nobody on call in the next 7 days") ||
		!strings.Contains(got[0].Message, "team channel slack is told, but it is not a person") {
		t.Errorf("empty-week: %+v", got)
	}
	got := check("unactivated")
	if len(got) != 2 || got[0].Problem != FindingUnreachable || got[1].Kind != "contact" || got[1].Name != "ben" || got[1].Problem != FindingNoChannel {
		t.Errorf("unactivated: %+v", got)
	}
	if !strings.Contains(got[0].Message, "contact ben has no activated channel; no member of contact group dark has an activated channel") {
		t.Errorf("unactivated: %s", got[0].Message)
	}
	if got := check("fine"); len(got) != 0 {
		t.Errorf("fine: %+v", got)
	}
	// A business-hours plan reaches nobody at night: gaps, not unreachable.
	got = check("office")
	if len(got) != 5 || got[0].Problem != FindingGap || !got[0].From.Equal(now.Add(5*time.Hour)) || got[0].To.Hour() != 9 {
		t.Errorf("office: %d %+v", len(got), got)
	}
	// A later stage that reaches someone closes the gaps.
	if got := check("fallback"); len(got) != 0 {
		t.Errorf("fallback: %+v", got)
	}
	if _, err := CheckPlan(s, "nope", now, week); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Errorf("unknown plan: %v", err)
	}

	// Check reports schedules too, and each contact once.
	all, err := Check(s, now, week)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, f := range all {
		n[f.Kind+"/"+f.Name+"/"+f.Problem]++
	}
	if n["schedule/later/gap"] != 1 || n["schedule/office/gap"] != 5 || n["contact/ben/no_activated_channel"] != 1 || n["schedule/always/gap"] != 0 {
		t.Errorf("Check: %v", n)
	}
}

// seedSetup is the reference guide's Platform-Tiered-Escalation: stage 1
// the Platform on-call (5 minutes), stage 2 the secondary on-call and the
// team lead (5 minutes), stage 3 the engineering manager and the director
// (10 minutes), stage 4 the CTO. Natsu is paged by email at once and by SMS
// after 10 minutes.
func seedSetup(t *testing.T) *Setup {
	hcm := mustLoc(t, "Asia/Ho_Chi_Minh")
	weekly := func(name string, members ...string) *ResolvedSchedule {
		r := &Rotation{Name: name, Members: members, Start: time.Date(2026, 1, 5, 9, 0, 0, 0, hcm), TimeZone: "Asia/Ho_Chi_Minh",
			Recurrence: Recurrence{Type: Weekly, WeeklySettings: []WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}}}
		return &ResolvedSchedule{Name: name, Rotations: []*Rotation{r}}
	}
	natsu := &tocsin.Contact{Alias: "natsu", Channels: []tocsin.ContactChannel{
		{Name: "email", Type: "email", Address: "natsu@example.com", Activated: true},
		{Name: "sms", Type: "sms", Address: "+84312712567", Activated: true},
	}, EngagementPlan: []tocsin.EngagementStep{{Channel: "email"}, {Channel: "sms", After: tocsin.Duration(10 * time.Minute)}}}
	s := &Setup{
		Contacts: map[string]*tocsin.Contact{"natsu": natsu, "zeref": activated("zeref", "email"), "laxus": activated("laxus", "email"),
			"makarov": activated("makarov", "email"), "gildarts": activated("gildarts", "email"), "mavis": activated("mavis", "email"),
			"erza": activated("erza", "email"), "gray": activated("gray", "email", "sms")},
		Groups: map[string]*tocsin.ContactGroup{"app-team": {Name: "app-team", Members: []string{"erza", "gray"}}},
		Schedules: map[string]*ResolvedSchedule{
			"platform":           weekly("platform", "natsu", "zeref"),
			"platform-secondary": weekly("platform-secondary", "zeref", "natsu"),
		},
		Plans: map[string]*tocsin.EscalationPlan{
			"platform-tiered-escalation": {Name: "platform-tiered-escalation", Stages: []tocsin.Stage{
				{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Schedule: "platform", Essential: true}}},
				{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Schedule: "platform-secondary", Essential: true}, {Contact: "laxus", Essential: true}}},
				{Duration: tocsin.Duration(10 * time.Minute), Targets: []tocsin.Target{{Contact: "makarov", Essential: true}, {Contact: "gildarts", Essential: true}}},
				{Duration: tocsin.Duration(10 * time.Minute), Targets: []tocsin.Target{{Contact: "mavis", Essential: true}}},
			}},
			"app-escalation": {Name: "app-escalation", Stages: []tocsin.Stage{
				{Duration: tocsin.Duration(10 * time.Minute), Targets: []tocsin.Target{{ContactGroup: "app-team"}, {Channel: "slack"}}},
				{Duration: tocsin.Duration(30 * time.Minute), Targets: []tocsin.Target{{EscalationPlan: "platform-tiered-escalation"}}},
			}},
		},
	}
	return s
}

func TestPlanPreviewSeedEscalation(t *testing.T) {
	s := seedSetup(t)
	now := time.Date(2026, 1, 6, 3, 0, 0, 0, time.UTC) // week 0: natsu primary, zeref secondary
	pv, err := PreviewPlan(s, "platform-tiered-escalation", now)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		min            int
		stage          int
		contact, chan_ string
		via            string
	}
	var got []row
	for _, p := range pv.Pages {
		if !p.Essential {
			t.Errorf("page %+v is not essential", p)
		}
		got = append(got, row{int(p.At.Sub(now).Minutes()), p.Stage, p.Contact, p.Channel, strings.Join(p.Via, " > ")})
	}
	want := []row{
		{0, 1, "natsu", "email", "escalation plan platform-tiered-escalation stage 1 > schedule platform > rotation platform"},
		{5, 2, "zeref", "email", "escalation plan platform-tiered-escalation stage 2 > schedule platform-secondary > rotation platform-secondary"},
		{5, 2, "laxus", "email", "escalation plan platform-tiered-escalation stage 2"},
		{10, 1, "natsu", "sms", "escalation plan platform-tiered-escalation stage 1 > schedule platform > rotation platform"},
		{10, 3, "makarov", "email", "escalation plan platform-tiered-escalation stage 3"},
		{10, 3, "gildarts", "email", "escalation plan platform-tiered-escalation stage 3"},
		{20, 4, "mavis", "email", "escalation plan platform-tiered-escalation stage 4"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages:\n%v\nwant\n%v", got, want)
	}
	if !pv.Ends.Equal(now.Add(30*time.Minute)) || len(pv.Notes) != 0 {
		t.Errorf("ends %s, notes %v", pv.Ends, pv.Notes)
	}

	// A nested plan, a contact group and a team channel; gray's SMS is
	// not activated and says so.
	pv, err = PreviewPlan(s, "app-escalation", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.Pages) != 9 || pv.Pages[0].Contact != "erza" || pv.Pages[1].Contact != "gray" ||
		strings.Join(pv.Pages[0].Via, " > ") != "escalation plan app-escalation stage 1 > contact group app-team" || pv.Pages[0].Essential {
		t.Fatalf("app-escalation pages: %+v", pv.Pages)
	}
	p := pv.Pages[2] // natsu, at minute 10 through the nested plan
	if p.Contact != "natsu" || !p.At.Equal(now.Add(10*time.Minute)) || p.Stage != 2 ||
		strings.Join(p.Via, " > ") != "escalation plan app-escalation stage 2 > escalation plan platform-tiered-escalation stage 1 > schedule platform > rotation platform" {
		t.Fatalf("nested page: %+v", p)
	}
	if len(pv.Channels) != 1 || pv.Channels[0].Channel != "slack" || !slices.Equal(pv.Notes, []string{"escalation plan app-escalation stage 1: gray's sms is not activated"}) {
		t.Fatalf("channels %+v notes %q", pv.Channels, pv.Notes)
	}
	if !pv.Ends.Equal(now.Add(40 * time.Minute)) {
		t.Errorf("app-escalation ends %s", pv.Ends)
	}
}

func TestPlanPreviewMovesOnPastEmptyStagesAndStopsLoops(t *testing.T) {
	s := seedSetup(t)
	s.Schedules["nobody"] = &ResolvedSchedule{Name: "nobody", Rotations: []*Rotation{daily("UTC", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), []string{"natsu"}, "09:00")}}
	s.Schedules["nobody"].Rotations[0].Name = "future"
	s.Plans["loop-a"] = &tocsin.EscalationPlan{Name: "loop-a", Stages: []tocsin.Stage{
		{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Schedule: "nobody"}}},
		{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Contact: "mavis"}, {EscalationPlan: "loop-b"}}},
	}, Repeat: 1}
	s.Plans["loop-b"] = &tocsin.EscalationPlan{Name: "loop-b", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{EscalationPlan: "loop-a"}}}}}
	now := time.Date(2026, 1, 6, 3, 0, 0, 0, time.UTC)
	pv, err := PreviewPlan(s, "loop-a", now)
	if err != nil {
		t.Fatal(err)
	}
	// The empty stage moves on at once; with repeat 1 mavis is paged at 0
	// and 5 minutes.
	if len(pv.Pages) != 2 || !pv.Pages[0].At.Equal(now) || !pv.Pages[1].At.Equal(now.Add(5*time.Minute)) || pv.Pages[1].Repeat != 1 {
		t.Fatalf("pages: %+v", pv.Pages)
	}
	if !slices.ContainsFunc(pv.Notes, func(n string) bool { return strings.Contains(n, "loop-a engages itself") }) ||
		!slices.ContainsFunc(pv.Notes, func(n string) bool {
			return n == "escalation plan loop-a stage 1: schedule nobody has nobody on call at 2026-01-06T03:00:00Z"
		}) {
		t.Fatalf("notes: %q", pv.Notes)
	}

	c := PreviewContact(s.Contacts["natsu"], now)
	if len(c.Pages) != 2 || c.Pages[0].Channel != "email" || !c.Pages[1].At.Equal(now.Add(10*time.Minute)) || c.Pages[1].Type != "sms" {
		t.Fatalf("contact preview: %+v", c)
	}
	// A retry interval re-pages the step, as the engine does.
	s.Contacts["natsu"].EngagementPlan[1].RetryInterval = tocsin.Duration(5 * time.Minute)
	s.Contacts["natsu"].EngagementPlan[1].Retries = 2
	c = PreviewContact(s.Contacts["natsu"], now)
	if len(c.Pages) != 4 || !c.Pages[3].At.Equal(now.Add(20*time.Minute)) || c.Pages[3].Retry != 2 || c.Pages[2].Retry != 1 || !c.Ends.Equal(now.Add(20*time.Minute)) {
		t.Fatalf("contact preview with retries: %+v", c)
	}
}
