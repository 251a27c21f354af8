// Package emit writes a bench tool's result the one way every tool does:
// as indented JSON to a file when asked, and on stdout as JSON or as the
// tool's Markdown table row.
package emit

import (
	"encoding/json"
	"fmt"
	"os"
)

// Row is a result that renders as a row of the tool's Markdown table.
type Row interface{ MarkdownRow() string }

// Result writes res as JSON to jsonFile (when not empty), then prints it
// on stdout: JSON when out is "json", its Markdown row otherwise.
func Result(res Row, jsonFile, out string) error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if jsonFile != "" {
		if err := os.WriteFile(jsonFile, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	if out == "json" {
		fmt.Println(string(js))
	} else {
		fmt.Print(res.MarkdownRow())
	}
	return nil
}
