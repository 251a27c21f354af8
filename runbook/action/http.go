// Package action runs the two runbook actions that do work on tocsin's
// side: tocsin:http (an HTTP call to a URL the configuration allows) and
// tocsin:script (a python3 or bash script in a subprocess). Each takes a
// step's inputs after interpolation and returns the action's result, the
// step's outputs before selection. Values in the inputs are data: they are
// sent as a body, a header or a script's stdin, never read as code or as
// a command line.
package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"tocsin"
	"tocsin/runbook"
)

// HTTP runs tocsin:http steps.
type HTTP struct {
	// Allow are the URL prefixes calls may go to (runbooks.http.allow).
	Allow []string
	// Client makes the calls (default http.DefaultClient's transport);
	// its redirects are checked against Allow whatever its CheckRedirect.
	Client *http.Client
	// MaxResponse caps an answer's body in bytes
	// (runbooks.http.max_response_bytes).
	MaxResponse int64
}

// errBodyPrefix is how much of a failed answer's body its error quotes.
const errBodyPrefix = 200

// maxRedirects bounds the redirects followed, as net/http does.
const maxRedirects = 10

// Run makes one call. Inputs: Method, URL, Headers (a map of strings) and
// Body (a string sent as is; a map or a list sent as JSON, with
// Content-Type application/json unless Headers set one). The result is
// {"StatusCode", "Headers" (each header's first value), "Body" (the
// answer decoded when it is JSON, else its text)}. An answer that is not
// 2xx is an error ("HTTP 503: " and the start of the body) and its result
// is still returned. Errors never hold header values: they may be
// credentials.
func (h *HTTP) Run(ctx context.Context, inputs map[string]any) (map[string]any, error) {
	req, err := h.request(ctx, inputs)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, callError(req, err)
	}
	defer resp.Body.Close()
	res := map[string]any{"StatusCode": resp.StatusCode, "Headers": firstValues(resp.Header)}
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.MaxResponse+1))
	if err != nil {
		return res, fmt.Errorf("tocsin:http: read answer: %w", err)
	}
	if int64(len(body)) > h.MaxResponse {
		return res, tocsin.Errorf(tocsin.ETOOLARGE, "tocsin:http: answer over %d bytes (runbooks.http.max_response_bytes)", h.MaxResponse)
	}
	res["Body"] = decodeBody(body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Trimmed: a body's trailing newline would split the timeline's
		// line.
		// Without the credentials sent: a server that refuses one often
		// quotes it back.
		quoted := redactSent(strings.TrimSpace(string(body)), req.Header)
		return res, fmt.Errorf("HTTP %d: %s", resp.StatusCode, tocsin.Truncate(quoted, errBodyPrefix))
	}
	return res, nil
}

// request builds the request of the inputs, its URL checked against the
// allow-list after interpolation.
func (h *HTTP) request(ctx context.Context, inputs map[string]any) (*http.Request, error) {
	method, _ := inputs["Method"].(string)
	if method == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: Method is required")
	}
	// Checked again here: a method given by {{ }} was not checked when
	// the document was applied.
	if !runbook.HTTPMethod(strings.ToUpper(method)) {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: Method %q is not %s", method, runbook.HTTPMethods)
	}
	raw, _ := inputs["URL"].(string)
	u, err := checkURL(h.Allow, raw)
	if err != nil {
		return nil, err
	}
	body, contentType, err := encodeBody(inputs["Body"])
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), body)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: %s is not a method", method)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if hs, ok := inputs["Headers"]; ok && hs != nil {
		m, ok := hs.(map[string]any)
		if !ok {
			return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: Headers must be a map of strings")
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: Headers.%s must be a string", k)
			}
			req.Header.Set(k, s)
		}
	}
	return req, nil
}

// redactSent replaces in text the values of the request's sensitive
// headers (runbook.SensitiveHeader), whole and without their scheme
// ("Bearer "), with runbook.RedactedValue.
func redactSent(text string, h http.Header) string {
	for name, vs := range h {
		if !runbook.SensitiveHeader(name) {
			continue
		}
		for _, v := range vs {
			for _, secret := range []string{v, v[strings.IndexByte(v, ' ')+1:]} {
				if secret = strings.TrimSpace(secret); secret != "" {
					text = strings.ReplaceAll(text, secret, runbook.RedactedValue)
				}
			}
		}
	}
	return text
}

// encodeBody returns the body to send: a string as is, anything else as
// JSON.
func encodeBody(v any) (io.Reader, string, error) {
	switch b := v.(type) {
	case nil:
		return nil, "", nil
	case string:
		return strings.NewReader(b), "", nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, "", tocsin.Errorf(tocsin.EINVALID, "tocsin:http: Body does not encode as JSON: %v", err)
	}
	return bytes.NewReader(data), "application/json", nil
}

// client is h.Client (or a default one) with redirects kept inside the
// allow-list: a copy, so the caller's client is not changed.
func (h *HTTP) client() *http.Client {
	c := http.Client{}
	if h.Client != nil {
		c = *h.Client
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return errors.New("stopped after 10 redirects")
		}
		if !allowed(h.Allow, req.URL) {
			return tocsin.Errorf(tocsin.EFORBIDDEN, "redirected to %s, which is not allowed by %s", shown(req.URL), AllowKey)
		}
		return nil
	}
	return &c
}

// callError says which call failed and why, with the URL shown without
// its query and the transport's error unwrapped from *url.Error (whose
// text repeats the full URL).
func callError(req *http.Request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("tocsin:http: %s %s: %w", req.Method, shown(req.URL), err)
}

// firstValues is each header's first value, by its canonical name.
func firstValues(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, vs := range h {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// decodeBody is body decoded when it is JSON (numbers as int64 when they
// are integers, else float64), else its text.
func decodeBody(body []byte) any {
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		return string(body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(body)
	}
	return runbook.Plain(v)
}
