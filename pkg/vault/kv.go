package vault

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// Request names one secret to read.
type Request struct {
	Mount     string
	Path      string // under the mount, as the config writes it
	KVVersion string // config.KVv1, config.KVv2 or config.KVAuto
	Version   int    // KV v2 version; 0 for the latest
	Namespace string
	// Engine is config.EngineGeneric to send the request to Mount/Path as
	// written; "" or config.EngineKV reads a KV secret.
	Engine string
	// Method and Data are the request of engine generic: config.MethodWrite
	// sends a PUT with Data as the JSON body, anything else a GET.
	Method string
	Data   map[string]any
}

// Secret is the data of one secret read.
type Secret struct {
	Data map[string]any
	// Lease is the lease of the response, nil when it has no lease id.
	Lease *Lease
}

// KVPath returns the API path of a KV secret. For KV v2 the data/ segment is
// added after the mount; a path that already starts with the whole segment
// data/ keeps one. A path that merely starts with the letters "data", such as
// database/prod, is not changed. KV v1 paths are never rewritten.
func KVPath(mount, path, kvVersion string) string {
	mount = strings.Trim(mount, "/")
	path = strings.Trim(path, "/")
	if kvVersion != config.KVv2 {
		return mount + "/" + path
	}
	if rest, ok := strings.CutPrefix(path, "data/"); ok {
		path = rest
	}
	return mount + "/data/" + path
}

// Read reads one secret and returns its fields: a KV secret, or with
// engine generic the data of the response at the path as written.
func (s *Session) Read(ctx context.Context, req Request) (*Secret, error) {
	if req.Engine == config.EngineGeneric {
		return s.readGeneric(ctx, req)
	}
	version := req.KVVersion
	if version == config.KVAuto {
		v, err := s.mountVersion(ctx, req.Mount, req.Namespace)
		if err != nil {
			return nil, err
		}
		version = v
	}
	apiPath := KVPath(req.Mount, req.Path, version)
	op := "read " + apiPath
	if req.Namespace != "" {
		op += " in namespace " + req.Namespace
	}
	var params map[string]string
	if version == config.KVv2 && req.Version > 0 {
		params = map[string]string{"version": strconv.Itoa(req.Version)}
		op += " version " + strconv.Itoa(req.Version)
	}
	data, err := s.readKV(ctx, op, apiPath, version, req.Namespace, params)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindNotFound {
			e.Err = errors.New("no secret at this path; check key, mountPath and kvVersion")
			if req.Version > 0 {
				e.Err = fmt.Errorf("no version %d at this path; check version, key and mountPath", req.Version)
			}
		}
		if errors.As(err, &e) && e.Kind == KindForbidden {
			e.Err = fmt.Errorf("permission denied; either the token's policy does not allow read on %s, or the token is no longer valid", apiPath)
		}
		return nil, err
	}
	if data == nil && version == config.KVv2 {
		return nil, &Error{Kind: KindNotFound, Op: op, Address: s.client.Address(),
			Err: errors.New("this version is deleted or destroyed")}
	}
	if data == nil {
		return nil, &Error{Kind: KindNotFound, Op: op, Address: s.client.Address(),
			Err: errors.New("no data at this path")}
	}
	return &Secret{Data: data}, nil
}

// kvV2Response is the part of a KV v2 read response that Read uses. The
// secret's metadata, the rest of the data object, is skipped rather than
// decoded into maps.
type kvV2Response struct {
	Data *struct {
		Data any `json:"data"`
	} `json:"data"`
}

// readKV sends the read of a KV secret and returns its fields, nil when
// the response has none. A KV v2 version without fields is deleted or
// destroyed.
func (s *Session) readKV(ctx context.Context, op, apiPath, version, namespace string, params map[string]string) (map[string]any, error) {
	if version != config.KVv2 {
		resp, err := s.client.do(ctx, op, "GET", apiPath, s.token, namespace, nil, params)
		if err != nil {
			return nil, err
		}
		return resp.Data, nil
	}
	var resp kvV2Response
	if err := s.client.doInto(ctx, op, "GET", apiPath, s.token, namespace, nil, params, &resp); err != nil {
		return nil, err
	}
	if resp.Data == nil {
		return nil, nil
	}
	fields, _ := resp.Data.Data.(map[string]any)
	return fields, nil
}

// mountCache remembers the KV version of each mount asked for with auto.
type mountCache struct {
	mu       sync.Mutex
	versions map[string]string
}

func newMountCache() *mountCache {
	return &mountCache{versions: map[string]string{}}
}

// mountVersion looks up the KV version of mount in the server mount table.
// A denied lookup is an error: guessing v1 would read the wrong path.
func (s *Session) mountVersion(ctx context.Context, mount, namespace string) (string, error) {
	mount = strings.Trim(mount, "/")
	key := namespace + "\x00" + mount
	cache := s.client.kv
	cache.mu.Lock()
	v, ok := cache.versions[key]
	cache.mu.Unlock()
	if ok {
		return v, nil
	}
	op := "look up the KV version of mount " + mount
	resp, err := s.client.do(ctx, op, "GET", "sys/internal/ui/mounts/"+mount, s.token, namespace, nil, nil)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Kind == KindForbidden || e.Kind == KindNotFound) {
			e.Err = fmt.Errorf("kvVersion auto needs to read the mount table, which was denied: either no mount %s exists, or the token may not read sys/internal/ui/mounts/%s; check mountPath, or set kvVersion: v1 or v2 on the secret", mount, mount)
		}
		return "", err
	}
	v = config.KVv1
	if opts, ok := resp.Data["options"].(map[string]any); ok {
		if ver, _ := opts["version"].(string); ver == "2" {
			v = config.KVv2
		}
	}
	if typ, _ := resp.Data["type"].(string); typ != "" && typ != "kv" && typ != "generic" {
		return "", &Error{Kind: KindInvalid, Op: op, Address: s.client.Address(),
			Err: fmt.Errorf("mount %s is a %s engine, not KV", mount, typ)}
	}
	cache.mu.Lock()
	cache.versions[key] = v
	cache.mu.Unlock()
	return v, nil
}
