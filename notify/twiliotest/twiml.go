package twiliotest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// parseTwiml checks that doc is one well-formed <Response> document and
// returns the action of its first <Gather> and the text of its first <Say>.
func parseTwiml(doc string) (gatherURL, say string, err error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	depth, roots := 0, 0
	inSay, sawSay := false, false
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 || tok.Name.Local != "Response" {
					return "", "", fmt.Errorf("the root element must be one <Response>, found <%s>", tok.Name.Local)
				}
			}
			depth++
			switch {
			case tok.Name.Local == "Gather" && gatherURL == "":
				for _, a := range tok.Attr {
					if a.Name.Local == "action" {
						gatherURL = a.Value
					}
				}
			case tok.Name.Local == "Say" && !sawSay:
				inSay, sawSay = true, true
			}
		case xml.EndElement:
			depth--
			if tok.Name.Local == "Say" {
				inSay = false
			}
		case xml.CharData:
			if inSay {
				text.Write(tok)
			} else if depth == 0 && strings.TrimSpace(string(tok)) != "" {
				return "", "", errors.New("text outside <Response>")
			}
		}
	}
	if roots == 0 {
		return "", "", errors.New("no <Response> element")
	}
	return gatherURL, text.String(), nil
}
