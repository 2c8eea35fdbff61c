package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// rawParam is one entry of a secret's data mapping, the body of a method
// write request.
type rawParam struct {
	key   string
	value any // string or []string, expanded
}

// decodeWriteData decodes the data mapping of a secret. Each value is one
// scalar, sent as its text, or a list of scalars.
func (d *decoder) decodeWriteData(n *yaml.Node, path string) []rawParam {
	if n.Kind != yaml.MappingNode {
		if !isNull(n) {
			d.errorf(n, path, "expected a mapping of request parameters, found %s; write one NAME: VALUE line per parameter", describe(n))
		}
		return nil
	}
	var params []rawParam
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "parameter %q is written twice; remove one", k.Value)
			continue
		}
		seen[k.Value] = true
		value, ok := d.paramValue(v, p)
		if !ok {
			continue
		}
		params = append(params, rawParam{key: k.Value, value: value})
	}
	return params
}

// paramValue decodes the value of one request parameter: a string for a
// scalar, a []string for a list of scalars.
func (d *decoder) paramValue(n *yaml.Node, path string) (any, bool) {
	switch {
	case isNull(n):
		d.errorf(n, path, "parameter has no value; write a value, \"\" for an empty one, or remove the line")
		return nil, false
	case n.Kind == yaml.SequenceNode:
		list := make([]string, 0, len(n.Content))
		for i, item := range n.Content {
			item = resolveAlias(item)
			itemPath := indexPath(path, i)
			if item.Kind != yaml.ScalarNode {
				d.errorf(item, itemPath, "expected a single value, found %s; a list of parameters holds values only", describe(item))
				return nil, false
			}
			s, ok := d.str(item, itemPath)
			if !ok {
				return nil, false
			}
			list = append(list, s.v)
		}
		return list, true
	case n.Kind == yaml.MappingNode:
		d.errorf(n, path, "expected a value or a list of values, found a mapping; write the parameter as one value, such as a comma-separated list")
		return nil, false
	}
	s, ok := d.str(n, path)
	if !ok {
		return nil, false
	}
	return s.v, true
}

// resolveEngine sets the engine, method and request data of s and checks
// that the keys of the secret suit its engine. It reports whether the
// engine is generic, whose mount and path the caller then takes as
// written.
func (r *resolver) resolveEngine(rs *rawSecret, s *Secret) bool {
	s.Engine = strings.ToLower(strings.TrimSpace(rs.engine.v))
	if s.Engine == "" {
		s.Engine = EngineKV
	}
	if s.Engine != EngineKV && s.Engine != EngineGeneric {
		r.errorAt(rs.engine.at, joinPath(rs.path, "engine"), "engine %q is not supported; use kv (the default) or generic", rs.engine.v)
		return false
	}
	s.Method = strings.ToLower(strings.TrimSpace(rs.method.v))
	if s.Method == "" {
		s.Method = MethodRead
	}
	if s.Method != MethodRead && s.Method != MethodWrite {
		r.errorAt(rs.method.at, joinPath(rs.path, "method"), "method %q is not supported; use read (a GET, the default) or write (a PUT with data)", rs.method.v)
	}

	if s.Engine == EngineKV {
		if s.Method == MethodWrite {
			r.errorAt(rs.method.at, joinPath(rs.path, "method"), "method write sends a request that may change data, and KV secrets are only read; set engine: generic to write to a path such as pki/issue/ROLE")
		}
		if rs.writeSet {
			r.errorAt(rs.writeAt, joinPath(rs.path, "data"), "data is the body of a method write request, which needs engine: generic; remove data, or set engine: generic and method: write")
		}
		return false
	}

	if rs.kvVersion.set {
		r.errorAt(rs.kvVersion.at, joinPath(rs.path, "kvVersion"), "kvVersion applies to engine kv only; remove it, since engine generic sends the path as written")
	}
	if rs.version.set {
		r.errorAt(rs.version.at, joinPath(rs.path, "version"), "version pins a KV v2 version, and engine generic reads no KV version; remove it")
	}
	if rs.writeSet && s.Method != MethodWrite {
		r.errorAt(rs.writeAt, joinPath(rs.path, "data"), "data is sent only with method write; set method: write, or remove data")
	}
	if s.Method == MethodWrite {
		s.WriteData = map[string]any{}
		for _, p := range rs.writeData {
			s.WriteData[p.key] = p.value
		}
		if !rs.refresh.set && !r.raw.defaults.refresh.set {
			r.warnAt(rs.method.at, joinPath(rs.path, "method"), "method write sends its request again at every refresh unless a lease can be renewed, and each request may issue new credentials, such as a certificate; set refreshInterval (the default is %s), see docs/leases.md",
				strings.TrimSuffix(DefaultRefreshInterval.String(), "0s"))
		}
	}
	return true
}
