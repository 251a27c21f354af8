package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// Service is the SigV4 signing name of AWS Incident Manager: requests
// signed for any other service are refused.
const Service = "ssm-incidents"

// MaxClockSkew is how far a request's X-Amz-Date may be from tocsin's
// clock, AWS's own bound: older signatures cannot be replayed later.
const MaxClockSkew = 15 * time.Minute

// Credential is one access key that may sign requests.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
}

// verifier checks AWS Signature Version 4 on requests (the Authorization
// header form; presigned URLs are not accepted).
type verifier struct {
	secrets map[string]string // by access key id
	now     func() time.Time
}

// sigParts are the fields of an AWS4-HMAC-SHA256 Authorization header.
type sigParts struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

// denied is the error every refused signature returns: the message says
// what was wrong, never a secret, and the status is always 403.
func denied(format string, args ...any) error {
	return tocsin.Errorf(tocsin.EFORBIDDEN, format, args...)
}

// verify checks r's signature over body and returns the access key id
// that signed it.
func (v *verifier) verify(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", denied("Missing Authentication Token: sign requests with AWS Signature Version 4 (Authorization header)")
	}
	p, err := parseAuthorization(auth)
	if err != nil {
		return "", err
	}
	secret, ok := v.secrets[p.keyID]
	if !ok {
		return "", denied("The security token included in the request is invalid: access key %q is not configured in tocsin (aws_api.credentials)", p.keyID)
	}
	if p.service != Service {
		return "", denied("Credential should be scoped to correct service: %q, not %q", Service, p.service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return "", denied("X-Amz-Date: %q is not a date like 20060102T150405Z", amzDate)
	}
	if now := v.now(); at.Before(now.Add(-MaxClockSkew)) || at.After(now.Add(MaxClockSkew)) {
		return "", denied("Signature expired: X-Amz-Date %s is more than %s from the server's time %s",
			amzDate, MaxClockSkew, now.UTC().Format("20060102T150405Z"))
	}
	if p.date != amzDate[:8] {
		return "", denied("Credential should be scoped to a valid date: %q, not %q", amzDate[:8], p.date)
	}
	if !slices.Contains(p.signedHeaders, "host") || !slices.Contains(p.signedHeaders, "x-amz-date") {
		return "", denied("SignedHeaders must include host and x-amz-date")
	}
	payload := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(payload[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return "", denied("X-Amz-Content-Sha256 does not match the request body")
	}
	scope := p.date + "/" + p.region + "/" + p.service + "/aws4_request"
	creq := canonicalRequest(r, p.signedHeaders, payloadHash)
	sum := sha256.Sum256([]byte(creq))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := signingKey(secret, p.date, p.region, p.service)
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p.signature))) != 1 {
		return "", denied("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return p.keyID, nil
}

// parseAuthorization reads `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`.
func parseAuthorization(h string) (sigParts, error) {
	var p sigParts
	algo, rest, _ := strings.Cut(h, " ")
	if algo != "AWS4-HMAC-SHA256" {
		return p, denied("Authorization: only AWS4-HMAC-SHA256 signatures are accepted")
	}
	var credential, signed string
	for _, f := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signed = val
		case "Signature":
			p.signature = val
		}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return p, denied("Authorization: Credential must be ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request")
	}
	if signed == "" || p.signature == "" {
		return p, denied("Authorization: SignedHeaders and Signature are required")
	}
	p.keyID, p.date, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	p.signedHeaders = strings.Split(signed, ";")
	return p, nil
}

// canonicalRequest builds SigV4's canonical request of r.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	// Services other than S3 sign the path escaped once more than it is
	// sent (the SDKs' rule).
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(escape(path, false) + "\n")
	b.WriteString(canonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signed {
		b.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String()
}

// headerValue is a signed header's canonical value: its values trimmed,
// inner runs of spaces collapsed, joined by commas. Go's server keeps
// Host and (sometimes) Content-Length outside r.Header.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalQuery sorts the query by name, then value, each escaped the
// SigV4 way.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, escape(k, true)+"="+escape(v, true))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// escape percent-encodes everything but RFC 3986's unreserved characters
// (and '/' unless slash is true), as SigV4 requires.
func escape(s string, slash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !slash) {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

// signingKey derives SigV4's key for one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
