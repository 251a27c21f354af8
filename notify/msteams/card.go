package msteams

import (
	"strings"

	"tocsin"
	"tocsin/notify"
)

// object is a JSON object of a card; cards are free-form enough that typed
// structs would add little.
type object = map[string]any

// adaptiveMessage is the Workflows payload: a message with one Adaptive Card.
func adaptiveMessage(msg *notify.Message, text string) object {
	body := []any{
		object{
			"type": "TextBlock", "text": headline(msg), "wrap": true,
			"weight": "Bolder", "size": "Medium", "color": headlineColor(msg.Incident.Status),
		},
	}
	var factSet []any
	for _, f := range facts(msg) {
		factSet = append(factSet, object{"title": f.name, "value": f.value})
	}
	body = append(body, object{"type": "FactSet", "facts": factSet})
	body = append(body, textBlocks(text)...)

	var actions []any
	if msg.AckURL != "" {
		actions = append(actions, object{"type": "Action.OpenUrl", "title": "Acknowledge", "url": msg.AckURL, "style": "positive"})
	}
	if msg.IncidentURL != "" {
		actions = append(actions, object{"type": "Action.OpenUrl", "title": "View incident", "url": msg.IncidentURL})
	}
	card := object{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"msteams": object{"width": "Full"},
		"body":    body,
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return object{
		"type": "message",
		"attachments": []any{object{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// messageCard is the legacy Office 365 connector payload.
func messageCard(msg *notify.Message, text string) object {
	title := headline(msg)
	var factList []any
	for _, f := range facts(msg) {
		factList = append(factList, object{"name": f.name, "value": f.value})
	}
	var actions []any
	if msg.AckURL != "" {
		actions = append(actions, openURI("Acknowledge", msg.AckURL))
	}
	if msg.IncidentURL != "" {
		actions = append(actions, openURI("View incident", msg.IncidentURL))
	}
	card := object{
		"@type":      "MessageCard",
		"@context":   "https://schema.org/extensions",
		"themeColor": themeColor(msg.Incident.Status),
		"summary":    title,
		"title":      title,
		"sections":   []any{object{"facts": factList}},
	}
	// Connectors refuse a card without text or summary; text may be empty
	// with a user template that renders nothing.
	if text != "" {
		card["text"] = paragraphs(text)
	}
	if len(actions) > 0 {
		card["potentialAction"] = actions
	}
	return card
}

func openURI(name, uri string) object {
	return object{"@type": "OpenUri", "name": name, "targets": []any{object{"os": "default", "uri": uri}}}
}

// textBlocks turns Markdown into TextBlocks, one per line: "#" headings
// become bold blocks, a line that is all **bold** a bold block, fenced code
// a monospace block; a blank line separates blocks with more space.
// TextBlocks render Teams' Markdown subset (bold, italic, lists, links).
func textBlocks(md string) []any {
	var (
		blocks []any
		gap    bool
		code   []string
		inCode bool
	)
	add := func(b object) {
		if len(blocks) == 0 || gap {
			b["spacing"] = "Medium"
		} else {
			b["spacing"] = "None"
		}
		gap = false
		blocks = append(blocks, b)
	}
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if inCode {
				add(object{"type": "TextBlock", "text": strings.Join(code, "\n"), "wrap": true, "fontType": "Monospace"})
				code = nil
			}
			inCode = !inCode
			continue
		}
		if inCode {
			code = append(code, line)
			continue
		}
		switch {
		case trimmed == "":
			gap = len(blocks) > 0
		case strings.HasPrefix(trimmed, "#"):
			level := len(trimmed) - len(strings.TrimLeft(trimmed, "#"))
			size := "Default"
			switch level {
			case 1:
				size = "Large"
			case 2:
				size = "Medium"
			}
			add(object{"type": "TextBlock", "text": strings.TrimSpace(trimmed[level:]), "wrap": true, "weight": "Bolder", "size": size})
		case len(trimmed) > 4 && strings.HasPrefix(trimmed, "**") && strings.HasSuffix(trimmed, "**") && strings.Count(trimmed, "**") == 2:
			add(object{"type": "TextBlock", "text": trimmed[2 : len(trimmed)-2], "wrap": true, "weight": "Bolder"})
		default:
			add(object{"type": "TextBlock", "text": trimmed, "wrap": true})
		}
	}
	if inCode && len(code) > 0 {
		add(object{"type": "TextBlock", "text": strings.Join(code, "\n"), "wrap": true, "fontType": "Monospace"})
	}
	return blocks
}

// paragraphs makes every line of md its own Markdown paragraph, outside
// code fences: connectors join lines separated by a single line break.
func paragraphs(md string) string {
	var (
		out    []string
		inCode bool
	)
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if inCode || strings.HasPrefix(strings.TrimSpace(line), "```") {
			out = append(out, line)
			continue
		}
		if strings.TrimSpace(line) != "" {
			out = append(out, line, "")
		}
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func headlineColor(status string) string {
	switch status {
	case tocsin.StatusAcknowledged:
		return "Warning"
	case tocsin.StatusResolved:
		return "Good"
	}
	return "Attention"
}

func themeColor(status string) string {
	switch status {
	case tocsin.StatusAcknowledged:
		return ColorAcknowledged
	case tocsin.StatusResolved:
		return ColorResolved
	}
	return ColorTriggered
}
