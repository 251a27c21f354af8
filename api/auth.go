package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"tocsin"
)

// Tokens are the bearer tokens one audience accepts: configured ones in
// clear, and generated ones by their hex SHA-256 (store.TokenHash), whose
// clear text tocsin does not keep.
type Tokens struct {
	Clear  []string
	Hashes []string
}

// Match reports, in constant time, whether presented is one of the tokens.
func (t Tokens) Match(presented string) bool {
	return tokenMatches(presented, t.Clear) || hashMatches(presented, t.Hashes)
}

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
// of hashes, in constant time.
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

// Bearer returns the request's bearer token, if any.
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) requireAPI(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.Tokens.Match(Bearer(r)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-api"`)
			Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid API token is required (Authorization: Bearer TOKEN)"))
			return
		}
		h(w, r)
	}
}
