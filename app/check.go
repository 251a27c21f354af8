package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"tocsin/config"
	"tocsin/notify"
)

// Check is the one check `config check` and `serve` both run: it loads
// the file at path (none: the defaults and the environment), builds what
// New builds from it and reports the problems of both at once, so the two
// commands accept and refuse the same files in the same words. The
// warnings of both are in the Result.
func Check(ctx context.Context, path string, getenv func(string) string) (*config.Result, error) {
	res, err := config.Load(path, getenv)
	var probs config.Problems
	if err != nil && (res == nil || !errors.As(err, &probs)) {
		return nil, err
	}
	warnings, err := checkSetup(ctx, res.Config, probs)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, warnings...)
	return res, nil
}

// checkSetup builds every channel, the on-call provider and the paging
// providers of cfg as New does, without touching the network, and
// returns what is worth a warning and every problem: known (the file's
// own problems, from config.Load) followed by what building found. A
// component with a known problem is not built again.
func checkSetup(ctx context.Context, cfg *config.Config, known config.Problems) (warnings []string, err error) {
	skip := func(key string) bool {
		for _, p := range known {
			if strings.HasPrefix(p, key+".") || strings.HasPrefix(p, key+":") {
				return true
			}
		}
		return false
	}
	built, probs := buildParts(ctx, cfg, slog.New(slog.DiscardHandler), skip)
	if probs = append(known, probs...); len(probs) > 0 {
		return nil, probs
	}
	warnings = append(warnings, checkTemplates(cfg)...)
	if len(built.channels) == 0 {
		warnings = append(warnings, "no notification channel is enabled (alert.slack, alert.email, alert.webhook, …): incidents are recorded but nobody is told")
	}
	return warnings, nil
}

// checkTemplates renders every configured template of an enabled channel
// against a sample payload of each source. A failure is a warning, not a
// problem: serve falls back to the built-in template for a message the
// user's template cannot render, and a template written for one source
// (a Versus template reading .Logs) is right not to fit the others.
// Unreadable or unparsable templates are problems, found by buildParts.
func checkTemplates(cfg *config.Config) []string {
	var warnings []string
	for _, c := range channelPlugins {
		if !c.enabled(cfg) {
			continue
		}
		if c.templatePath != nil {
			if path := c.templatePath(cfg); path != "" {
				if err := notify.CheckTemplate(strings.TrimPrefix(c.key, "alert."), path); err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						warnings = append(warnings, c.key+".template_path: "+line+" (the built-in template is used for such messages)")
					}
				}
			}
		}
		if c.warnings != nil {
			warnings = append(warnings, c.warnings(cfg)...)
		}
	}
	return warnings
}

// emailSubjectWarnings checks alert.email.subject against the sample
// payloads, as checkTemplates does the templates.
func emailSubjectWarnings(cfg *config.Config) []string {
	subject := cfg.Alert.Email.Subject
	if subject == "" {
		return nil
	}
	t, err := notify.ParseTemplate("subject", subject, false)
	if err != nil {
		return nil // a problem, reported by email.New
	}
	if err := t.Check(); err != nil {
		return []string{"alert.email.subject: " + err.Error() + " (the built-in subject is used for such messages)"}
	}
	return nil
}
