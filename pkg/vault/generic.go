package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// GenericPath returns the API path of an engine generic request: mount and
// path joined by one slash, each trimmed of slashes. An empty mount makes
// path the whole API path. Unlike KVPath, nothing is added or removed.
func GenericPath(mount, path string) string {
	mount = strings.Trim(mount, "/")
	path = strings.Trim(path, "/")
	if mount == "" {
		return path
	}
	return mount + "/" + path
}

// readGeneric sends req to its path as written: a GET, or a PUT with
// req.Data as the JSON body for config.MethodWrite. The response's data is
// the secret, and its lease, if any, comes with it.
func (s *Session) readGeneric(ctx context.Context, req Request) (*Secret, error) {
	apiPath := GenericPath(req.Mount, req.Path)
	method, verb, capability := "GET", "read", "read"
	var body any
	if req.Method == config.MethodWrite {
		method, verb, capability = "PUT", "write", "update"
		body = req.Data
		if req.Data == nil {
			body = map[string]any{}
		}
	}
	op := verb + " " + apiPath
	if req.Namespace != "" {
		op += " in namespace " + req.Namespace
	}

	resp, err := s.client.do(ctx, op, method, apiPath, s.token, req.Namespace, body, nil)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			switch e.Kind {
			case KindNotFound:
				hint := "check key and mountPath: engine generic sends the path as written, with no data/ segment added"
				if e.Err != nil {
					e.Err = fmt.Errorf("%w; %s", e.Err, hint)
				} else {
					e.Err = errors.New("nothing at this path; " + hint)
				}
			case KindForbidden:
				e.Err = fmt.Errorf("permission denied; the token's policy must allow %s on %s", capability, apiPath)
			}
		}
		return nil, err
	}

	if resp.Data == nil {
		return nil, &Error{Kind: KindNotFound, Op: op, Address: s.client.Address(),
			Err: fmt.Errorf("the response contains no data to render files from; check key, mountPath and method (now %s)", verb)}
	}
	secret := &Secret{Data: resp.Data}
	if resp.LeaseID != "" {
		secret.Lease = s.newLease(resp, req.Namespace, time.Now())
	}
	return secret, nil
}
