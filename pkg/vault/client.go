package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// requestTimeout bounds one request, so a server that accepts a connection
// and never answers does not hold a read for the whole pass.
const requestTimeout = 30 * time.Second

// Options tune a Client.
type Options struct {
	// MaxConns is the number of connections kept open to the server; it
	// should be at least the number of parallel reads.
	MaxConns int
}

// Client is a connection to one server, without a token.
type Client struct {
	api     *api.Client // root namespace
	address string
	kv      *mountCache

	// byNamespace holds one api client per namespace. The api client
	// sets X-Vault-Namespace from its own setting on every request,
	// replacing a header set on the request, so a namespace needs a client
	// of its own. They share one HTTP client and its connection pool.
	mu          sync.Mutex
	byNamespace map[string]*api.Client
}

// NewClient builds a client for the store's first address with its TLS
// settings.
func NewClient(store config.Store, opts Options) (*Client, error) {
	if len(store.Addresses) == 0 {
		return nil, fmt.Errorf("no server address")
	}
	// NOTE: only the first address is used; a list is accepted by the
	// config loader, but failover to the next address is not built yet.
	address := store.Addresses[0]
	if opts.MaxConns < 1 {
		opts.MaxConns = 16
	}
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        opts.MaxConns,
		MaxIdleConnsPerHost: opts.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
	}
	cfg := &api.Config{
		Address: address,
		HttpClient: &http.Client{
			Transport: transport,
			// The api client handles redirects from standby nodes itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:    requestTimeout,
		MaxRetries: 0, // retries are the engine's, with its own backoff and deadline
	}
	t := store.TLS
	err := cfg.ConfigureTLS(&api.TLSConfig{
		CACert:        t.CACert,
		CAPath:        t.CAPath,
		ClientCert:    t.ClientCert,
		ClientKey:     t.ClientKey,
		TLSServerName: t.ServerName,
		Insecure:      t.SkipVerify,
	})
	if err != nil {
		return nil, fmt.Errorf("configure TLS for %s: %w", address, err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", address, err)
	}
	// api.NewClient reads VAULT_TOKEN and VAULT_NAMESPACE itself; the
	// config loader has already applied them with the right precedence.
	c.ClearToken()
	c.ClearNamespace()
	return &Client{api: c, address: address, kv: newMountCache(), byNamespace: map[string]*api.Client{}}, nil
}

// namespaced returns the api client that sends requests to namespace; ""
// is the root namespace and sends no X-Vault-Namespace header.
func (c *Client) namespaced(namespace string) (*api.Client, error) {
	if namespace == "" {
		return c.api, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if client, ok := c.byNamespace[namespace]; ok {
		return client, nil
	}
	client, err := c.api.Clone()
	if err != nil {
		return nil, fmt.Errorf("create client for namespace %s: %w", namespace, err)
	}
	client.SetNamespace(namespace)
	c.byNamespace[namespace] = client
	return client, nil
}

// Address returns the server address requests go to.
func (c *Client) Address() string { return c.address }

// Close releases idle connections.
func (c *Client) Close() {
	if tr, ok := c.api.CloneConfig().HttpClient.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
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

// do sends one request and decodes the response. op names the request in
// errors. Numbers are kept as json.Number, so they print as written.
func (c *Client) do(ctx context.Context, op, method, path, token, namespace string, body any, params map[string]string) (*response, error) {
	client, err := c.namespaced(namespace)
	if err != nil {
		return nil, err
	}
	r := client.NewRequest(method, "/v1/"+path)
	r.ClientToken = token
	for k, v := range params {
		r.Params.Set(k, v)
	}
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", op, err)
		}
	}
	resp, err := client.RawRequestWithContext(ctx, r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		e := classify(op, c.address, err)
		if e.Status == http.StatusTooManyRequests {
			e.RetryAfter = retryAfter(resp)
		}
		return nil, e
	}
	out := &response{}
	if resp.StatusCode == http.StatusNoContent {
		return out, nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return nil, &Error{Kind: KindUnavailable, Op: op, Address: c.address, Status: resp.StatusCode,
			Err: fmt.Errorf("the response is not Vault JSON: %w", err)}
	}
	return out, nil
}
