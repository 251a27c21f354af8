package action

import (
	"net/url"
	"strings"

	"tocsin"
	"tocsin/runbook"
)

// AllowKey is the configuration key that lists the URLs tocsin:http may
// call, named in every refusal so an operator knows what to change.
const AllowKey = "runbooks.http.allow"

// allowed reports whether u is under one of the prefixes, read both ways:
// as text by runbook.AllowedURL (the reading a document is checked with
// at apply), and parsed: the same scheme
// and host:port (default ports made explicit, host case-insensitive), and
// a path equal to the prefix's or below it at a segment boundary, so
// https://api.example/v1 allows /v1 and /v1/x but not /v10. A URL with a
// user name or with "." or ".." path segments (hasDotSegment) is never
// allowed: a server would resolve the segments outside the prefix, and
// userinfo is a credential in the wrong place.
func allowed(prefixes []string, u *url.URL) bool {
	if u.User != nil || u.Opaque != "" || u.Host == "" || hasDotSegment(u.Path) || !runbook.AllowedURL(u.String(), prefixes) {
		return false
	}
	for _, p := range prefixes {
		pu, err := url.Parse(p)
		if err != nil {
			continue
		}
		if !strings.EqualFold(pu.Scheme, u.Scheme) || hostPort(pu) != hostPort(u) {
			continue
		}
		base := strings.TrimSuffix(pu.Path, "/")
		if base == "" || u.Path == base || strings.HasPrefix(u.Path, base+"/") {
			return true
		}
	}
	return false
}

// hostPort is u's host and port, lower-cased, the port made explicit.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// hasDotSegment reports whether the decoded path p has a segment that a
// server may resolve as "." or "..": split on "/" and on "\\" (which
// some servers take for one), and read without ";parameters" (which
// others drop from a segment: "..;" is "..").
func hasDotSegment(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// checkURL parses raw and checks it against the prefixes. The refusal
// names the URL without its query (which may carry a token) and the key
// that would allow it.
func checkURL(prefixes []string, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:http: URL is not an absolute http or https URL")
	}
	if !allowed(prefixes, u) {
		return nil, tocsin.Errorf(tocsin.EFORBIDDEN, "tocsin:http: %s is not allowed by %s", shown(u), AllowKey)
	}
	return u, nil
}

// shown is u as errors may show it: scheme, host and path, no user name,
// query or fragment.
func shown(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return v.String()
}
