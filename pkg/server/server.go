// Package server serves the health, readiness and metrics endpoints of
// secrets-sync watch over HTTP.
//
// Routes, for GET and HEAD only (other methods get 405):
//
//	/healthz, /health  200 while the process runs
//	/readyz, /ready    200 when every secret has synced and none is stale,
//	                   else 503; both with a JSON body naming what is missing
//	/metrics           Prometheus metrics, when a registry is given
//
// /health and /ready are the paths of the earlier tool.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// Time limits of the server. Every response is small and quick, so short
// limits only cut off slow or stuck clients.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	// shutdownTimeout bounds the wait for requests in flight when Serve's
	// context ends.
	shutdownTimeout = 5 * time.Second
)

// Server is the health, readiness and metrics server, bound to its address.
type Server struct {
	listener net.Listener
	http     *http.Server
	done     chan struct{}
}

// New binds addr, host:port, at once, so that an invalid or taken address
// fails at start. Port 0 picks a free port. The server reports readiness
// from tracker and metrics from registry, and a nil registry leaves
// /metrics out.
func New(addr string, tracker *status.Tracker, registry *prometheus.Registry) (*Server, error) {
	if tracker == nil {
		return nil, errors.New("health server: no status tracker")
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health server: listen on %s: %w", addr, err)
	}
	s := &Server{
		listener: listener,
		done:     make(chan struct{}),
		http: &http.Server{
			Handler:           newHandler(tracker, registry),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		},
	}
	return s, nil
}

// Addr returns the address the server listens on, host:port, with the
// port that was picked when the address asked for port 0.
func (s *Server) Addr() string {
	return s.listener.Addr().String()
}

// Serve serves requests until ctx ends, then shuts down: it stops
// accepting, waits up to 5 seconds for requests in flight, and closes the
// rest. It returns nil after a shutdown, or the error that stopped the
// server earlier. Serve must be called once.
func (s *Server) Serve(ctx context.Context) error {
	defer close(s.done)
	served := make(chan error, 1)
	go func() {
		served <- s.http.Serve(s.listener)
	}()

	select {
	case err := <-served:
		return fmt.Errorf("health server on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		// Requests still running after the timeout are cut off.
		_ = s.http.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("health server on %s: %w", s.Addr(), err)
	}
	return nil
}

// Done returns a channel that is closed when Serve has returned.
func (s *Server) Done() <-chan struct{} {
	return s.done
}

// readiness is the JSON body of /readyz.
type readiness struct {
	Ready bool `json:"ready"`
	// Reasons lists what is missing or stale. It is left out when ready.
	Reasons []string `json:"reasons,omitempty"`
	// Secrets counts the secrets tracked, and Synced those that have
	// synced at least once.
	Secrets int `json:"secrets"`
	Synced  int `json:"synced"`
}

func newHandler(tracker *status.Tracker, registry *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	// A GET pattern also matches HEAD, and the mux responds to other
	// methods on these paths with 405 and an Allow header.
	health := http.HandlerFunc(serveHealth)
	ready := readyHandler(tracker)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /health", health)
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /ready", ready)
	if registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	}
	return mux
}

func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func readyHandler(tracker *status.Tracker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		snapshot := tracker.Snapshot()
		ready, reasons := snapshot.Ready(time.Now())
		body := readiness{Ready: ready, Reasons: reasons, Secrets: len(snapshot.Secrets)}
		for _, secret := range snapshot.Secrets {
			if !secret.LastSuccess.IsZero() {
				body.Synced++
			}
		}
		data, err := json.Marshal(body)
		if err != nil {
			http.Error(w, "encode readiness: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if ready {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(append(data, '\n'))
	})
}
