package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
)

// Kind classifies a failed request.
type Kind int

const (
	// KindUnreachable: no answer from the server (refused, reset, timeout, DNS).
	KindUnreachable Kind = iota + 1
	// KindTLS: the TLS handshake failed or the certificate was rejected.
	KindTLS
	// KindAuth: the token was rejected or the login was denied.
	KindAuth
	// KindNotFound: nothing is stored at the path.
	KindNotFound
	// KindForbidden: the token may not read the path.
	KindForbidden
	// KindUnavailable: the server responded but cannot serve now (5xx, sealed,
	// standby, 412, 429).
	KindUnavailable
	// KindInvalid: the server rejected the request itself (400 and other 4xx).
	KindInvalid
)

func (k Kind) String() string {
	switch k {
	case KindUnreachable:
		return "unreachable"
	case KindTLS:
		return "tls"
	case KindAuth:
		return "auth"
	case KindNotFound:
		return "not found"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "unavailable"
	case KindInvalid:
		return "invalid request"
	}
	return "unknown"
}

// Error is a failed request to the server. Its message names the operation
// and the server's own error text, never a token or a secret value.
type Error struct {
	Kind       Kind
	Op         string // e.g. "read secret/data/app"
	Address    string // as Client.Address returns it, with any password replaced
	Status     int    // HTTP status; 0 when the server did not respond
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	switch e.Kind {
	case KindUnreachable:
		fmt.Fprintf(&b, ": server %s unreachable: %v", e.Address, e.Err)
	case KindTLS:
		fmt.Fprintf(&b, ": TLS with %s failed: %v", e.Address, e.Err)
	default:
		if e.Status != 0 {
			fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
		}
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether the same request may succeed later.
func (e *Error) Transient() bool {
	return e.Kind == KindUnreachable || e.Kind == KindUnavailable
}

// IsTransient reports whether err is a request failure that a retry may fix.
func IsTransient(err error) bool {
	var ve *Error
	return errors.As(err, &ve) && ve.Transient()
}

// classify turns an error of the api client into an *Error.
func classify(op, address string, err error) *Error {
	e := &Error{Op: op, Address: address, Err: err}
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		e.Status = respErr.StatusCode
		e.Err = serverMessage(respErr)
		switch {
		case respErr.StatusCode == http.StatusNotFound:
			e.Kind = KindNotFound
		case respErr.StatusCode == http.StatusForbidden:
			e.Kind = KindForbidden
		case respErr.StatusCode == http.StatusUnauthorized:
			// Vault responds to a rejected token with 403, and with 401
			// only on its OIDC provider's userinfo endpoint (Vault 1.13,
			// http/handler.go), so a 401 comes from a proxy in front of it.
			e.Kind = KindAuth
			e.Err = errProxyUnauthorized
		case respErr.StatusCode == http.StatusTooManyRequests,
			respErr.StatusCode == http.StatusPreconditionFailed,
			respErr.StatusCode >= 500:
			e.Kind = KindUnavailable
		default:
			e.Kind = KindInvalid
		}
		return e
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority),
		errors.As(err, &hostnameErr), errors.As(err, &invalidCert),
		errors.As(err, &recordErr):
		e.Kind = KindTLS
		e.Err = rootCause(err)
		return e
	}
	if strings.Contains(err.Error(), "invalid header field value") {
		// net/http rejects a header value with a control character before
		// sending anything; the token is the only header from the user.
		e.Kind = KindAuth
		e.Err = errTokenControl
		return e
	}
	e.Kind = KindUnreachable
	e.Err = rootCause(err)
	return e
}

// errProxyUnauthorized is the cause of a 401 response. It names its own
// fix, so no token hint is added to it.
var errProxyUnauthorized = errors.New("rejected by a proxy in front of the server, since Vault itself responds to a bad token with 403; check the user and password in the server address, or the proxy's settings")

// errTokenControl is the cause of a request that net/http rejected before
// sending it, because the token has a control character. It names its own
// fix, so no further hint is added to it.
var errTokenControl = errors.New("the token contains a control character, such as a line break; check VAULT_TOKEN, token or tokenFile")

// rootCause strips the URL and operation wrappers of net/http errors, which
// repeat the address already in the message.
func rootCause(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		err = opErr.Err
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out")
	}
	return err
}

// serverMessage keeps the server's error strings. A body that is not
// Vault's JSON error format is left out, since it is not known to be free of
// data.
func serverMessage(r *api.ResponseError) error {
	if r.RawError || len(r.Errors) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(r.Errors))
	for _, m := range r.Errors {
		m = flattenMultiError(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		if len(m) > 200 {
			m = m[:200] + "..."
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// retryAfter reads the Retry-After header of a 429 response, in seconds.
func retryAfter(resp *api.Response) time.Duration {
	if resp == nil || resp.Response == nil {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// flattenMultiError turns Vault's "1 error occurred:\n\t* permission
// denied" into "permission denied", so that a message stays on one line.
func flattenMultiError(m string) string {
	if !strings.Contains(m, "error occurred:") && !strings.Contains(m, "errors occurred:") {
		return m
	}
	var items []string
	for _, line := range strings.Split(m, "\n") {
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return m
	}
	return strings.Join(items, "; ")
}
