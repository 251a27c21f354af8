package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"tocsin"
)

// tokenMatches compares a presented token with the accepted ones in
// constant time (hashing first makes lengths equal).
func tokenMatches(presented string, accepted []string) bool {
	if presented == "" {
		return false
	}
	p := sha256.Sum256([]byte(presented))
	ok := 0
	for _, a := range accepted {
		if a == "" {
			continue
		}
		h := sha256.Sum256([]byte(a))
		ok |= subtle.ConstantTimeCompare(p[:], h[:])
	}
	return ok == 1
}

// hashMatches reports whether the hex SHA-256 of a presented token is one
// of hashes (generated tokens, whose clear text tocsin does not keep), in
// constant time.
func hashMatches(presented string, hashes []string) bool {
	if presented == "" {
		return false
	}
	p := sha256.Sum256([]byte(presented))
	want := []byte(hex.EncodeToString(p[:]))
	ok := 0
	for _, h := range hashes {
		if len(h) == len(want) {
			ok |= subtle.ConstantTimeCompare(want, []byte(h))
		}
	}
	return ok == 1
}

// bearer returns the request's bearer token, if any.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ingestToken returns the integration token of an intake request: the
// bearer token or the token query parameter (for senders that cannot set
// headers, such as SNS subscriptions).
func ingestToken(r *http.Request) string {
	if t := bearer(r); t != "" {
		return t
	}
	return r.URL.Query().Get("token")
}

// authenticatedIngest reports whether the request carries a valid integration token.
func (s *Server) authenticatedIngest(r *http.Request) bool {
	return s.isIngestToken(ingestToken(r))
}

// isIngestToken reports whether t is an integration token: a configured
// one or a generated one (kept only as its hash).
func (s *Server) isIngestToken(t string) bool {
	return tokenMatches(t, s.opts.IngestTokens) || hashMatches(t, s.opts.IngestTokenHashes)
}

func (s *Server) requireIngest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.IngestOpen && !s.authenticatedIngest(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-ingest"`)
			Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid integration token is required (Authorization: Bearer TOKEN or ?token=TOKEN)"))
			return
		}
		h(w, r)
	}
}

func (s *Server) requireAPI(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t := bearer(r); !tokenMatches(t, s.opts.APITokens) && !hashMatches(t, s.opts.APITokenHashes) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-api"`)
			Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid API token is required (Authorization: Bearer TOKEN)"))
			return
		}
		h(w, r)
	}
}

// snsPathTrusted reports whether the SNS path (Versus's queue.sns) may be
// used without an integration token: only when every message's signature
// is verified and the path accepts only pinned topics, so nobody but the
// owner of those topics can post there.
func (s *Server) snsPathTrusted() bool {
	if s.opts.SNS == nil || len(s.opts.SNSPathTopics) == 0 {
		return false
	}
	for _, t := range s.opts.SNSPathTopics {
		if t == "" {
			return false
		}
	}
	return true
}
