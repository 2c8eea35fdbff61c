package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/log"
	"github.com/hashicorp/vault/api"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// requestTimeout bounds one request, so a server that accepts a connection
// and never responds does not hold a read for the whole pass.
const requestTimeout = 30 * time.Second

// Options tune a Client.
type Options struct {
	// MaxConns is the number of connections kept open to each server; it
	// should be at least the number of parallel reads.
	MaxConns int
	// Logger receives one line each time requests move to another
	// server; nil means no log.
	Logger *log.Logger
}

// Client sends requests to one server of a list, without a token. Requests
// go to the current server. When it cannot be reached or cannot serve (a
// 5xx response, such as a sealed node), the request is tried on the next
// address, which then stays current while it works.
type Client struct {
	servers []*server
	current atomic.Int32
	logger  *log.Logger
	kv      *mountCache
}

// server is one address of the list, with one api client per namespace.
type server struct {
	// address is the address as messages show it, with any password
	// replaced. Only the api clients contain the address as written.
	address string
	root    *api.Client // root namespace

	// The api client sets X-Vault-Namespace from its own setting on every
	// request, replacing a header set on the request, so a namespace
	// needs a client of its own. They share one HTTP client and its
	// connection pool.
	mu          sync.Mutex
	byNamespace map[string]*api.Client
}

// NewClient builds a client for the store's addresses with its TLS
// settings.
func NewClient(store config.Store, opts Options) (*Client, error) {
	if len(store.Addresses) == 0 {
		return nil, fmt.Errorf("no server address")
	}
	if opts.MaxConns < 1 {
		opts.MaxConns = 16
	}
	if opts.Logger == nil {
		opts.Logger = log.New(io.Discard)
	}
	httpClient, err := newHTTPClient(store.TLS, opts.MaxConns)
	if err != nil {
		return nil, err
	}
	c := &Client{logger: opts.Logger, kv: newMountCache()}
	for _, address := range store.Addresses {
		redacted := config.RedactAddress(address)
		root, err := api.NewClient(&api.Config{
			Address:    address,
			HttpClient: httpClient,
			// The api client's own timeout drops the context's cancel
			// function, which keeps every request's context and timer
			// alive until the timer fires, so server.do sets requestTimeout.
			Timeout:    0,
			MaxRetries: 0, // retries are the engine's, with its own backoff and deadline
		})
		if err != nil {
			// The *url.Error of an address that does not parse quotes the
			// address as written, so only its cause is kept.
			return nil, fmt.Errorf("create client for %s: %w", redacted, rootCause(err))
		}
		// api.NewClient reads VAULT_TOKEN and VAULT_NAMESPACE itself; the
		// config loader has already applied them with the right
		// precedence.
		root.ClearToken()
		root.ClearNamespace()
		c.servers = append(c.servers, &server{address: redacted, root: root, byNamespace: map[string]*api.Client{}})
	}
	return c, nil
}

// newHTTPClient builds the HTTP client that every server and namespace
// shares, with the store's TLS settings.
func newHTTPClient(t config.TLS, maxConns int) (*http.Client, error) {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        maxConns * 2,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
	}
	cfg := &api.Config{
		HttpClient: &http.Client{
			Transport: transport,
			// The api client handles redirects from standby nodes itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	err := cfg.ConfigureTLS(&api.TLSConfig{
		CACert:        t.CACert,
		CAPath:        t.CAPath,
		ClientCert:    t.ClientCert,
		ClientKey:     t.ClientKey,
		TLSServerName: t.ServerName,
		Insecure:      t.SkipVerify,
	})
	if err != nil {
		return nil, fmt.Errorf("configure TLS: %w", err)
	}
	return cfg.HttpClient, nil
}

// Address returns the server address requests go to now, with any
// password replaced by "xxxxx", so that it can be logged.
func (c *Client) Address() string {
	return c.servers[c.current.Load()].address
}

// Close releases idle connections.
func (c *Client) Close() {
	if tr, ok := c.servers[0].root.CloneConfig().HttpClient.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// namespaced returns the api client that sends requests to namespace; ""
// is the root namespace and sends no X-Vault-Namespace header.
func (s *server) namespaced(namespace string) (*api.Client, error) {
	if namespace == "" {
		return s.root, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if client, ok := s.byNamespace[namespace]; ok {
		return client, nil
	}
	client, err := s.root.Clone()
	if err != nil {
		return nil, fmt.Errorf("create client for namespace %s: %w", namespace, err)
	}
	client.SetNamespace(namespace)
	s.byNamespace[namespace] = client
	return client, nil
}

// shouldFailOver reports whether a request that failed with err may
// succeed on another server: this one did not respond, or responded that
// it cannot serve (5xx, such as a sealed or uninitialised node).
func shouldFailOver(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Kind == KindUnreachable || (e.Kind == KindUnavailable && e.Status >= 500)
}

// response is the part of a Vault JSON response that secrets-sync uses.
type response struct {
	Data          map[string]any `json:"data"`
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Auth          *struct {
		ClientToken   string `json:"client_token"`
		Accessor      string `json:"accessor"`
		LeaseDuration int    `json:"lease_duration"`
		Renewable     bool   `json:"renewable"`
	} `json:"auth"`
}

// do sends one request and decodes the response, moving to the next
// server when the current one fails in a way another may not. op names the
// request in errors. Numbers are kept as json.Number, so they print as
// written.
func (c *Client) do(ctx context.Context, op, method, path, token, namespace string, body any, params map[string]string) (*response, error) {
	out := &response{}
	if err := c.doInto(ctx, op, method, path, token, namespace, body, params, out); err != nil {
		return nil, err
	}
	return out, nil
}

// doInto is do with the response decoded into into, a pointer to a struct
// of the fields that the caller needs. A 204 response leaves into as it is.
func (c *Client) doInto(ctx context.Context, op, method, path, token, namespace string, body any, params map[string]string, into any) error {
	first := int(c.current.Load())
	var lastErr error
	for i := range c.servers {
		index := (first + i) % len(c.servers)
		err := c.servers[index].do(ctx, op, method, path, token, namespace, body, params, into)
		if err == nil && index != first {
			c.switchServer(first, index, lastErr)
		}
		if err == nil || !shouldFailOver(err) || ctx.Err() != nil {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// switchServer makes the server at index current. Of many requests that
// fail over at once, only the first logs the switch.
func (c *Client) switchServer(from, to int, cause error) {
	if c.current.CompareAndSwap(int32(from), int32(to)) {
		c.logger.Warn("switched server", "from", c.servers[from].address, "to", c.servers[to].address, "err", cause)
	}
}

// do sends one request to this server and decodes the response into into.
func (s *server) do(ctx context.Context, op, method, path, token, namespace string, body any, params map[string]string, into any) error {
	client, err := s.namespaced(namespace)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	r := client.NewRequest(method, "/v1/"+path)
	r.ClientToken = token
	for k, v := range params {
		r.Params.Set(k, v)
	}
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
	}
	resp, err := client.RawRequestWithContext(ctx, r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		e := classify(op, s.address, err)
		if e.Status == http.StatusTooManyRequests {
			e.RetryAfter = retryAfter(resp)
		}
		return e
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return &Error{Kind: KindUnavailable, Op: op, Address: s.address, Status: resp.StatusCode,
			Err: fmt.Errorf("the response is not Vault JSON: %w", err)}
	}
	return nil
}
