package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"tocsin"
)

// codes maps application error codes to HTTP status codes: the one table,
// used by every HTTP package of tocsin.
var codes = map[string]int{
	tocsin.EINVALID:        http.StatusBadRequest,
	tocsin.EUNAUTHORIZED:   http.StatusUnauthorized,
	tocsin.EFORBIDDEN:      http.StatusForbidden,
	tocsin.ENOTFOUND:       http.StatusNotFound,
	tocsin.ECONFLICT:       http.StatusConflict,
	tocsin.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	tocsin.EUNAVAILABLE:    http.StatusServiceUnavailable,
	tocsin.ENOTIMPLEMENTED: http.StatusNotImplemented,
	tocsin.EINTERNAL:       http.StatusInternalServerError,
}

// StatusCode returns the HTTP status of an application error code.
func StatusCode(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error writes err as {"error": {"code", "message"}} with the status of its
// code. Internal errors are shown generically; log them with LogError.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := tocsin.ErrorCode(err), tocsin.ErrorMessage(err)
	status := StatusCode(code)
	if code == tocsin.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// WriteJSON writes v as a JSON answer with status, HTML left unescaped.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// LogError logs the errors that are the server's fault, once, at the edge.
func LogError(log *slog.Logger, r *http.Request, err error) {
	switch tocsin.ErrorCode(err) {
	case tocsin.EINTERNAL, tocsin.EUNAVAILABLE:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// Fail logs err with LogError and writes it with Error.
func Fail(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	LogError(log, r, err)
	Error(w, r, err)
}

// ReadBody reads the request body within limit bytes: a longer body is
// ETOOLARGE.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tocsin.Errorf(tocsin.ETOOLARGE, "request body is larger than %d bytes", limit)
		}
		return nil, tocsin.Errorf(tocsin.EINVALID, "reading request body: %v", err)
	}
	return body, nil
}

// SanitizeActor drops control characters from a name shown on timelines.
func SanitizeActor(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
