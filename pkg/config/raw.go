package config

import (
	"io/fs"
	"time"

	"go.yaml.in/yaml/v3"
)

// The raw* types hold the values written in the file, before defaults and the
// environment are applied. Every field remembers whether it was written and
// where. They keep a Position rather than a *yaml.Node, so that the tree can be
// freed once it is decoded.

type rawConfig struct {
	at       Position // the document's top mapping
	store    rawStore
	storeSet bool // secretStore is written, so store.at is its position
	defaults rawDefaults
	secrets  []*rawSecret
	// secretsAt is the position of the secrets key's value, or of the
	// document when the key is missing.
	secretsAt Position
}

type rawStore struct {
	at          Position
	address     opt[[]string]
	namespace   opt[string]
	auth        rawAuth
	tls         rawTLS
	credentials []rawAuth
	// The earlier format set these for every secret under secretStore.
	kvVersion opt[string]
	mountPath opt[string]
}

type rawTLS struct {
	caCert, caPath, clientCert, clientKey, serverName opt[string]
	skipVerify                                        opt[bool]
}

type rawAuth struct {
	name         string
	at           Position // the set's key, or secretStore for the default set
	path         string
	method       opt[string]
	mount        opt[string]
	namespace    opt[string]
	token        opt[string]
	tokenFile    opt[string]
	roleID       opt[string]
	roleIDFile   opt[string]
	secretID     opt[string]
	secretIDFile opt[string]
	// secretIDWrapped: secretId or secretIdFile is a wrapping token.
	secretIDWrapped opt[bool]
	role            opt[string]
	jwt             opt[string]
	jwtFile         opt[string]
	username        opt[string]
	password        opt[string]
	passwordFile    opt[string]
}

type rawDefaults struct {
	mountPath opt[string]
	kvVersion opt[string]
	refresh   opt[time.Duration]
	mode      opt[fs.FileMode]
}

type rawSecret struct {
	at           Position
	path         string
	name         opt[string]
	key          opt[string]
	keyPath      opt[string] // "path", the other spelling of "key"
	mountPath    opt[string]
	kvVersion    opt[string]
	version      opt[int]
	namespace    opt[string]
	credentials  opt[string]
	refresh      opt[time.Duration]
	templateData []rawTemplateEntry
	files        []rawFile
	filesAt      Position // the files key's value, or the secret without one
	maxStale     opt[time.Duration]
	onChange     *rawOnChange
	engine       opt[string]
	method       opt[string]
	writeData    []rawParam // "data", the body of a method write request
	writeSet     bool       // data is written, even when it did not decode
	writeAt      Position   // the data mapping
	layout       opt[string]
}

type rawTemplateEntry struct {
	key   string
	keyAt Position
	text  opt[string]
}

type rawFile struct {
	at         Position
	path       string
	dest       opt[string]
	mode       opt[fs.FileMode]
	owner      opt[int]
	group      opt[int]
	template   opt[string]
	field      opt[string]
	allowEmpty opt[bool]
}

var (
	topKeys      = []string{"secretStore", "defaults", "secrets"}
	authKeys     = []string{"authMethod", "authMount", "namespace", "token", "tokenFile", "roleId", "roleIdFile", "secretId", "secretIdFile", "secretIdWrapped", "role", "jwt", "jwtFile", "username", "password", "passwordFile"}
	tlsKeys      = []string{"tlsCACert", "tlsCAPath", "tlsClientCert", "tlsClientKey", "tlsServerName", "tlsSkipVerify"}
	storeKeys    = append(append([]string{"address", "credentials", "kvVersion", "mountPath"}, authKeys...), tlsKeys...)
	defaultsKeys = []string{"mountPath", "kvVersion", "refreshInterval", "mode"}
	secretKeys   = []string{"name", "key", "path", "mountPath", "kvVersion", "version", "namespace", "credentials", "refreshInterval", "maxStale", "template", "files", "onChange", "engine", "method", "data", "layout"}
	fileKeys     = []string{"path", "mode", "owner", "group", "template", "field", "allowEmpty"}
	templateKeys = []string{"data"}
)

func (d *decoder) decodeTop(root *yaml.Node) rawConfig {
	raw := rawConfig{at: pos(root), secretsAt: pos(root)}
	d.fields(root, "", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "secretStore":
			raw.store = d.decodeStore(v)
			raw.storeSet = true
		case "defaults":
			raw.defaults = d.decodeDefaults(v)
		case "secrets":
			if d.isSplitKey(k) {
				raw.secretsAt = d.split.at
				raw.secrets = d.decodeSplitSecrets()
				return
			}
			raw.secretsAt = pos(v)
			raw.secrets = d.decodeSecrets(v)
		}
	})
	return raw
}

func (d *decoder) decodeStore(n *yaml.Node) rawStore {
	const path = "secretStore"
	s := rawStore{at: pos(n)}
	s.auth = rawAuth{at: pos(n), path: path}
	d.fields(n, path, storeKeys, func(key string, k, v *yaml.Node) {
		p := joinPath(path, key)
		switch key {
		case "address":
			s.address, _ = d.strList(v, p)
		case "credentials":
			d.decodeCredentials(v, p, &s)
		case "kvVersion":
			s.kvVersion, _ = d.kvVersion(v, p)
		case "mountPath":
			s.mountPath, _ = d.str(v, p)
		case "tlsCACert":
			s.tls.caCert, _ = d.str(v, p)
		case "tlsCAPath":
			s.tls.caPath, _ = d.str(v, p)
		case "tlsClientCert":
			s.tls.clientCert, _ = d.str(v, p)
		case "tlsClientKey":
			s.tls.clientKey, _ = d.str(v, p)
		case "tlsServerName":
			s.tls.serverName, _ = d.str(v, p)
		case "tlsSkipVerify":
			s.tls.skipVerify, _ = d.boolean(v, p)
		case "namespace":
			s.namespace, _ = d.str(v, p)
		default:
			d.authField(&s.auth, key, v, p)
		}
	})
	return s
}

func (d *decoder) decodeCredentials(n *yaml.Node, path string, s *rawStore) {
	if n.Kind != yaml.MappingNode {
		if !isNull(n) {
			d.errorf(n, path, "expected a mapping of credential set names, found %s; write each set as NAME: with its keys indented below", describe(n))
		}
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "credential set %q is defined twice; remove one", k.Value)
			continue
		}
		seen[k.Value] = true
		a := rawAuth{name: k.Value, at: pos(k), path: p}
		if isNull(v) {
			d.errorf(k, p, "credential set %q is empty; give it an authMethod and its credentials", k.Value)
		}
		d.fields(v, p, authKeys, func(key string, _, fv *yaml.Node) {
			d.authField(&a, key, fv, joinPath(p, key))
		})
		s.credentials = append(s.credentials, a)
	}
}

func (d *decoder) authField(a *rawAuth, key string, v *yaml.Node, p string) {
	switch key {
	case "authMethod":
		a.method, _ = d.str(v, p)
	case "authMount":
		a.mount, _ = d.str(v, p)
	case "namespace":
		a.namespace, _ = d.str(v, p)
	case "token":
		a.token, _ = d.str(v, p)
	case "tokenFile":
		a.tokenFile, _ = d.str(v, p)
	case "roleId":
		a.roleID, _ = d.str(v, p)
	case "roleIdFile":
		a.roleIDFile, _ = d.str(v, p)
	case "secretId":
		a.secretID, _ = d.str(v, p)
	case "secretIdFile":
		a.secretIDFile, _ = d.str(v, p)
	case "secretIdWrapped":
		a.secretIDWrapped, _ = d.boolean(v, p)
	case "role":
		a.role, _ = d.str(v, p)
	case "jwt":
		a.jwt, _ = d.str(v, p)
	case "jwtFile":
		a.jwtFile, _ = d.str(v, p)
	case "username":
		a.username, _ = d.str(v, p)
	case "password":
		a.password, _ = d.str(v, p)
	case "passwordFile":
		a.passwordFile, _ = d.str(v, p)
	}
}

func (d *decoder) decodeDefaults(n *yaml.Node) rawDefaults {
	const path = "defaults"
	var r rawDefaults
	d.fields(n, path, defaultsKeys, func(key string, k, v *yaml.Node) {
		p := joinPath(path, key)
		switch key {
		case "mountPath":
			r.mountPath, _ = d.str(v, p)
		case "kvVersion":
			r.kvVersion, _ = d.kvVersion(v, p)
		case "refreshInterval":
			r.refresh, _ = d.duration(v, p)
		case "mode":
			r.mode, _ = d.mode(v, p)
		}
	})
	return r
}

// decodeSecrets decodes the secrets list. It drops the list's reference to
// each item once the item is decoded, so that the garbage collector can free
// that part of the tree while the rest is decoded. A list with an anchor is
// kept whole, because an alias may read it again.
func (d *decoder) decodeSecrets(n *yaml.Node) []*rawSecret {
	if n.Kind != yaml.SequenceNode {
		if !isNull(n) {
			d.errorf(n, "secrets", "expected a list of secrets, found %s; start each secret with \"- name:\"", describe(n))
		}
		return nil
	}
	return d.decodeSecretItems(n, make([]*rawSecret, 0, len(n.Content)))
}

// decodeSecretItems decodes the items of the list n and appends them to
// out, numbered on from the secrets already in out.
func (d *decoder) decodeSecretItems(n *yaml.Node, out []*rawSecret) []*rawSecret {
	for i, item := range n.Content {
		// Each secret is allocated on its own, so that no block for all of
		// them is allocated while the whole tree is still alive.
		out = append(out, d.decodeSecret(resolveAlias(item), indexPath("secrets", len(out))))
		if n.Anchor == "" {
			n.Content[i] = nil
		}
	}
	return out
}

func (d *decoder) decodeSecret(n *yaml.Node, path string) *rawSecret {
	s := &rawSecret{at: pos(n), path: path, filesAt: pos(n)}
	ok := d.fields(n, path, secretKeys, func(key string, k, v *yaml.Node) {
		p := joinPath(path, key)
		switch key {
		case "name":
			s.name, _ = d.str(v, p)
		case "key":
			s.key, _ = d.str(v, p)
		case "path":
			s.keyPath, _ = d.str(v, p)
		case "mountPath":
			s.mountPath, _ = d.str(v, p)
		case "kvVersion":
			s.kvVersion, _ = d.kvVersion(v, p)
		case "version":
			s.version, _ = d.integer(v, p)
		case "namespace":
			s.namespace, _ = d.str(v, p)
		case "credentials":
			s.credentials, _ = d.str(v, p)
		case "refreshInterval":
			s.refresh, _ = d.duration(v, p)
		case "template":
			d.decodeTemplateData(v, p, s)
		case "files":
			s.filesAt = pos(v)
			s.files = d.decodeFiles(v, joinPath(path, "files"))
		case "maxStale":
			s.maxStale, _ = d.duration(v, p)
		case "onChange":
			s.onChange = d.decodeOnChange(v, p)
		case "engine":
			s.engine, _ = d.str(v, p)
		case "method":
			s.method, _ = d.str(v, p)
		case "data":
			s.writeSet, s.writeAt = true, pos(v)
			s.writeData = d.decodeWriteData(v, p)
		case "layout":
			s.layout, _ = d.str(v, p)
		}
	})
	if !ok && isNull(n) {
		d.errorf(n, path, "empty secret; give it a name, a key and files")
	}
	return s
}

func (d *decoder) decodeTemplateData(n *yaml.Node, path string, s *rawSecret) {
	d.fields(n, path, templateKeys, func(_ string, _, v *yaml.Node) {
		p := joinPath(path, "data")
		if v.Kind != yaml.MappingNode {
			if !isNull(v) {
				d.errorf(v, p, "expected a mapping of file basenames to templates, found %s; write one BASENAME: TEMPLATE line per file", describe(v))
			}
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, tv := v.Content[i], resolveAlias(v.Content[i+1])
			kp := joinPath(p, k.Value)
			if seen[k.Value] {
				d.errorf(k, kp, "template key %q is written twice; remove one", k.Value)
				continue
			}
			seen[k.Value] = true
			text, ok := d.str(tv, kp)
			if !ok {
				continue
			}
			s.templateData = append(s.templateData, rawTemplateEntry{key: k.Value, keyAt: pos(k), text: text})
		}
	})
}

func (d *decoder) decodeFiles(n *yaml.Node, path string) []rawFile {
	if n.Kind != yaml.SequenceNode {
		if !isNull(n) {
			d.errorf(n, path, "expected a list of files, found %s; start each file with \"- path:\"", describe(n))
		}
		return nil
	}
	out := make([]rawFile, 0, len(n.Content))
	for i, item := range n.Content {
		item = resolveAlias(item)
		p := indexPath(path, i)
		f := rawFile{at: pos(item), path: p}
		d.fields(item, p, fileKeys, func(key string, k, v *yaml.Node) {
			fp := joinPath(p, key)
			switch key {
			case "path":
				f.dest, _ = d.str(v, fp)
			case "mode":
				f.mode, _ = d.mode(v, fp)
			case "owner":
				f.owner, _ = d.id(v, fp, false)
			case "group":
				f.group, _ = d.id(v, fp, true)
			case "template":
				f.template, _ = d.str(v, fp)
			case "field":
				f.field, _ = d.str(v, fp)
			case "allowEmpty":
				f.allowEmpty, _ = d.boolean(v, fp)
			}
		})
		out = append(out, f)
	}
	return out
}
