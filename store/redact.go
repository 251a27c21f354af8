package store

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a secret in a database URL.
const redacted = "xxxxx"

// RedactURL returns a database URL or DSN fit for logs and errors: the
// password of the user info, any query parameter that names a password
// (password, sslpassword, …) and the password=… pairs of a key=value DSN
// are replaced by xxxxx. A string that does not parse as a URL is redacted
// as text, so a malformed URL cannot slip its password through.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && strings.Contains(s, "://") {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
		if q := u.Query(); len(q) > 0 {
			changed := false
			for k := range q {
				if secretKey(k) {
					q.Set(k, redacted)
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
		return u.String()
	}
	s = userinfoPassword.ReplaceAllString(s, "${1}:"+redacted+"@")
	s = queryPassword.ReplaceAllString(s, "${1}="+redacted)
	return dsnPassword.ReplaceAllString(s, "${1}="+redacted)
}

// secretKey reports whether a URL query or DSN key holds a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "password") || strings.Contains(k, "secret")
}

var (
	// userinfoPassword is scheme://user:password@ in text that is not a valid URL.
	userinfoPassword = regexp.MustCompile(`(://[^/:@?#]*):[^@]*@`)
	// queryPassword is ?password=… or &sslpassword=… in such text.
	queryPassword = regexp.MustCompile(`(?i)([?&][^=&#]*(?:password|secret)[^=&#]*)=[^&#]*`)
	// dsnPassword is password=value or password='quoted value' in a
	// key=value DSN (PostgreSQL's libpq form).
	dsnPassword = regexp.MustCompile(`(?i)(\b[a-z_]*(?:password|secret)[a-z_]*)\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s']\S*)`)
)

// redactErr keeps a database URL's secrets out of an error: the URL itself
// and each secret it holds are replaced wherever they appear in the
// message. The chain is kept, so error codes still reach the caller.
func redactErr(err error, dsn string) error {
	if err == nil || dsn == "" {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, dsn, RedactURL(dsn))
	for _, secret := range urlSecrets(dsn) {
		clean = strings.ReplaceAll(clean, secret, redacted)
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// urlSecrets lists the secret values a database URL or DSN carries, raw and
// as they appear escaped.
func urlSecrets(dsn string) []string {
	var out []string
	add := func(v string) {
		if v == "" || v == redacted {
			return
		}
		out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
	}
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for k, vs := range u.Query() {
			if secretKey(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	for _, re := range []*regexp.Regexp{userinfoPassword, queryPassword, dsnPassword} {
		for _, m := range re.FindAllString(dsn, -1) {
			v := m[len(re.FindStringSubmatch(m)[1]):]
			v = strings.TrimLeft(v, " \t=:")
			v = strings.TrimSuffix(v, "@")
			add(strings.Trim(v, "'"))
		}
	}
	return out
}

// redactedError is an error whose message had secrets removed; Unwrap
// keeps the codes of the original for errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
