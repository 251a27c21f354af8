// Package web serves tocsin's HTML pages, opened by people from the links
// of messages: the acknowledgement page and the read-only incident page,
// both behind links signed by an AckSigner instead of an API token.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"tocsin"
)

// Store is what the pages need from the store.
type Store interface {
	FindIncident(ctx context.Context, id string) (*tocsin.Incident, error)
	Acknowledge(ctx context.Context, id string, by tocsin.Actor) (inc *tocsin.Incident, changed bool, err error)
}

// Options configure a Server.
type Options struct {
	// Acks signs and checks the links; nil answers every page with 503
	// "not configured".
	Acks *AckSigner
	// Runbooks, when set, shows the incident's runbook executions on its
	// page.
	Runbooks Runbooks
	Logger   *slog.Logger
}

// Server serves the pages.
type Server struct {
	store Store
	opts  Options
}

// New returns the pages over store; Register puts their routes on a mux.
func New(store Store, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, opts: opts}
}

// Register adds the pages' routes to m.
func (s *Server) Register(m *http.ServeMux) {
	m.HandleFunc("GET /api/ack/{id}", s.handleAckPage)
	m.HandleFunc("HEAD /api/ack/{id}", s.handleAckHead)
	m.HandleFunc("POST /api/ack/{id}", s.handleAckPost)
	m.HandleFunc("GET /incidents/{id}", s.handleIncidentPage)
}
