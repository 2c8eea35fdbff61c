package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// requestCounts are the requests a countingProxy passed on, by kind.
type requestCounts struct {
	Total  int64
	Reads  int64 // GET of secret/data/...
	Tokens int64 // auth/token/... (lookup-self, renew-self, ...)
	Mounts int64 // sys/internal/ui/mounts/..., the KV version lookup
	Other  int64
}

// String lists the total and each kind that was seen, such as
// "203 = 100 read + 100 mount + 3 token".
func (c requestCounts) String() string {
	var parts []string
	for _, kind := range []struct {
		n    int64
		name string
	}{{c.Reads, "read"}, {c.Mounts, "mount"}, {c.Tokens, "token"}, {c.Other, "other"}} {
		if kind.n > 0 {
			parts = append(parts, strconv.FormatInt(kind.n, 10)+" "+kind.name)
		}
	}
	if len(parts) < 2 {
		return strconv.FormatInt(c.Total, 10)
	}
	return strconv.FormatInt(c.Total, 10) + " = " + strings.Join(parts, " + ")
}

func (c requestCounts) sub(earlier requestCounts) requestCounts {
	return requestCounts{
		Total:  c.Total - earlier.Total,
		Reads:  c.Reads - earlier.Reads,
		Tokens: c.Tokens - earlier.Tokens,
		Mounts: c.Mounts - earlier.Mounts,
		Other:  c.Other - earlier.Other,
	}
}

// countingProxy is a reverse proxy on 127.0.0.1 that passes every request
// to the Vault dev server and counts it.
type countingProxy struct {
	addr     string // http://127.0.0.1:PORT
	server   *http.Server
	listener net.Listener
	total    atomic.Int64
	reads    atomic.Int64
	tokens   atomic.Int64
	mounts   atomic.Int64
	other    atomic.Int64
}

func startCountingProxy(target string) (*countingProxy, error) {
	targetURL, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{addr: "http://" + listener.Addr().String(), listener: listener}
	forward := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targetURL)
		},
		// Vault Agent and consul-template open a connection per template
		// when they render thousands at once. Capping the connections to
		// the server makes the excess requests wait for one instead of
		// running the benchmark out of file descriptors.
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			MaxConnsPerHost:     512,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	p.server = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.count(r)
			forward.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = p.server.Serve(listener) }()
	return p, nil
}

func (p *countingProxy) count(r *http.Request) {
	p.total.Add(1)
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/"):
		p.reads.Add(1)
	case strings.HasPrefix(r.URL.Path, "/v1/auth/token/"):
		p.tokens.Add(1)
	case strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/"):
		p.mounts.Add(1)
	default:
		p.other.Add(1)
	}
}

func (p *countingProxy) snapshot() requestCounts {
	return requestCounts{
		Total:  p.total.Load(),
		Reads:  p.reads.Load(),
		Tokens: p.tokens.Load(),
		Mounts: p.mounts.Load(),
		Other:  p.other.Load(),
	}
}

func (p *countingProxy) close() {
	_ = p.server.Close()
}
