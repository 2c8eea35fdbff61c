package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/secrets-sync/secrets-sync/pkg/template"
)

// Options are the inputs of a load that do not come from the file.
type Options struct {
	// Lookup reads environment variables; nil means os.LookupEnv.
	Lookup LookupFunc
	// WorkDir is the folder that relative file paths resolve against; ""
	// means the process's working folder.
	WorkDir string
	// HomeDir is the folder that contains ~/.vault-token; "" means the user's
	// home folder.
	HomeDir string
}

// ReadError is returned when the config file itself cannot be read.
type ReadError struct {
	File string
	Err  error
}

func (e *ReadError) Error() string {
	if errors.Is(e.Err, os.ErrNotExist) {
		return fmt.Sprintf("config file %s not found; pass -c PATH or set CONFIG_FILE", e.File)
	}
	return fmt.Sprintf("read config %s: %v", e.File, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// Load reads, resolves and checks the config file at path. When the file
// has errors it returns *InvalidError with every problem found. Warnings of
// a valid file are in Config.Warnings.
func Load(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ReadError{File: path, Err: err}
	}
	cfg, problems := Parse(path, data, opts)
	if len(problems.Errors()) > 0 {
		return nil, &InvalidError{File: path, Problems: problems}
	}
	return cfg, nil
}

// Parse resolves and checks config text that came from file. It returns
// every problem, errors and warnings, sorted by position; the config is
// usable only when no problem is an error.
func Parse(file string, data []byte, opts Options) (*Config, Problems) {
	return parse(file, data, opts, true)
}

// parse implements Parse. With trySplit it first tries to decode the
// secrets list in pieces (see decodeSplit), and tests compare the result
// with and without.
func parse(file string, data []byte, opts Options, trySplit bool) (*Config, Problems) {
	opts = opts.withDefaults()
	cfg := &Config{File: file}
	d := &decoder{file: file, text: data, lookup: opts.Lookup}
	var raw rawConfig
	ok := false
	if trySplit {
		raw, ok = d.decodeSplit()
	}
	if !ok {
		d = &decoder{file: file, text: data, lookup: opts.Lookup}
		if raw, ok = d.decodeWhole(); !ok {
			return cfg, d.problems
		}
	}
	r := &resolver{decoder: d, opts: opts, raw: raw, cfg: cfg}
	r.resolve()

	d.problems.Sort()
	cfg.Warnings = d.problems.Warnings()
	return cfg, d.problems
}

// decodeWhole decodes the file as one tree. It returns false, with the
// problem, when the file is not valid YAML or is empty.
func (d *decoder) decodeWhole() (rawConfig, bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(d.text))
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		// yaml.v3 returns io.EOF for text without a document: nothing, or
		// only blank lines and comments.
		d.emptyFile()
		return rawConfig{}, false
	}
	if err != nil {
		d.problems = append(d.problems, d.yamlProblem(err))
		return rawConfig{}, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "a second YAML document starts here; keep one document per config file")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.emptyFile()
		return rawConfig{}, false
	}
	return d.decodeTop(doc.Content[0]), true
}

// emptyFile reports a file that contains no settings, with what it needs.
func (d *decoder) emptyFile() {
	state := "the file contains no settings"
	switch {
	case len(bytes.TrimSpace(d.text)) == 0:
		state = "the file is empty"
	case onlyComments(d.text):
		state = "the file contains only comments"
	}
	d.errorAt(Position{Line: 1, Column: 1}, "", "%s; it needs at least a secrets: list and the server's address (secretStore.address or VAULT_ADDR); secrets-sync init prints an example", state)
}

// onlyComments reports whether every line of text is blank or a comment.
func onlyComments(text []byte) bool {
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

func (o Options) withDefaults() Options {
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	if o.WorkDir == "" {
		o.WorkDir, _ = os.Getwd()
	}
	if o.HomeDir == "" {
		o.HomeDir, _ = os.UserHomeDir()
	}
	return o
}

// yamlProblem turns a YAML syntax error into a problem with its line and a
// hint on what usually causes it.
func (d *decoder) yamlProblem(err error) Problem {
	p := Problem{File: d.file, Severity: SeverityError}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		p.Line, p.Column = line, 1
		msg = strings.TrimSpace(msg[strings.IndexByte(msg, ':')+1:])
	}
	text, _ := d.line(p.Line)
	p.Message = "invalid YAML: " + msg + "; " + yamlHint(msg, text)
	return p
}

// yamlHint returns a likely fix for a YAML syntax error, given the text of
// the line that the error names ("" when it names none).
func yamlHint(msg, text string) string {
	if strings.Contains(text[:len(text)-len(strings.TrimLeft(text, " \t"))], "\t") {
		return "YAML indents with spaces only; replace the tab on this line"
	}
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		return "check the indentation, and quote a value that contains \": \""
	case strings.Contains(msg, "did not find expected"), strings.Contains(msg, "unexpected end"):
		return "close every [ ] and { } and every quote, and check the indentation"
	}
	return "check the indentation and quoting on this line and the one before"
}

// resolver applies defaults and the environment to the raw values and
// checks the result.
type resolver struct {
	*decoder
	opts Options
	raw  rawConfig
	cfg  *Config
	// dests maps each destination already claimed to the path of the
	// file that claimed it, such as secrets[0].files[1].path.
	dests map[string]string
	// templates maps each template text parsed so far to its template,
	// which later files with the same text share through Rename.
	templates map[string]*template.Template
	// linkedDirs maps each folder that holds a secret of layout linked,
	// with its symbolic links resolved, to that secret.
	linkedDirs map[string]linkedDir
	// folders contains what is known of each destination folder and its
	// parents, each examined once.
	folders map[string]existingFolder
}

func (r *resolver) resolve() {
	r.resolveStore()
	r.resolveSecrets()
	setNewFolders(r.cfg.Secrets)
}

func (r *resolver) env(suffix string) (string, bool) {
	_, v := r.envVar(suffix)
	return v, v != ""
}

// envVar returns the first of VAULT_suffix and BAO_suffix that is set and
// not empty, with its name.
func (r *resolver) envVar(suffix string) (name, value string) {
	for _, prefix := range []string{"VAULT_", "BAO_"} {
		if v, ok := r.lookup(prefix + suffix); ok && v != "" {
			return prefix + suffix, v
		}
	}
	return "", ""
}

func (r *resolver) resolveStore() {
	raw := r.raw.store
	st := &r.cfg.Store
	storeAt := raw.at
	if !r.raw.storeSet {
		storeAt = r.raw.at
	}

	st.Addresses = raw.address.v
	if len(st.Addresses) == 0 {
		if v, ok := r.env("ADDR"); ok {
			st.Addresses = splitList(v)
		}
	}
	if len(st.Addresses) == 0 && !r.reported("secretStore.address") {
		at := storeAt
		if raw.address.set {
			at = raw.address.at
		}
		r.errorAt(at, "secretStore.address", "no server address; set secretStore.address in the file or VAULT_ADDR in the environment")
	}
	for i, a := range st.Addresses {
		st.Addresses[i] = r.checkAddress(a, raw.address.at)
	}

	if raw.namespace.set {
		st.Namespace = &raw.namespace.v
	} else if v, ok := r.env("NAMESPACE"); ok {
		st.Namespace = &v
	}

	r.resolveTLS()
	st.Auth = r.resolveAuth(raw.auth, true)
	st.Credentials = map[string]Auth{}
	for _, ra := range raw.credentials {
		st.Credentials[ra.name] = r.resolveAuth(ra, false)
	}
}

func (r *resolver) checkAddress(address string, at Position) string {
	address = strings.TrimRight(strings.TrimSpace(address), "/")
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.errorAt(at, "secretStore.address", "%q is not a server address; write it as https://HOST:PORT", RedactAddress(address))
		return address
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		r.warnAt(at, "secretStore.address", "%s sends tokens and secrets unencrypted; use https unless the network is private", RedactAddress(address))
	}
	return address
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *resolver) resolveTLS() {
	raw := r.raw.store.tls
	t := &r.cfg.Store.TLS
	fileSetting := func(o opt[string], envSuffix, key string, folderOK bool) string {
		if o.set && o.v != "" {
			r.checkReadable(o.v, o.at, "secretStore."+key, "", folderOK)
			return o.v
		}
		name, v := r.envVar(envSuffix)
		if v != "" {
			r.checkReadable(v, r.raw.store.at, "secretStore."+key, name, folderOK)
		}
		return v
	}
	t.CACert = fileSetting(raw.caCert, "CACERT", "tlsCACert", false)
	t.CAPath = fileSetting(raw.caPath, "CAPATH", "tlsCAPath", true)
	t.ClientCert = fileSetting(raw.clientCert, "CLIENT_CERT", "tlsClientCert", false)
	t.ClientKey = fileSetting(raw.clientKey, "CLIENT_KEY", "tlsClientKey", false)
	t.ServerName = raw.serverName.v
	if !raw.serverName.set {
		t.ServerName, _ = r.env("TLS_SERVER_NAME")
	}
	if raw.skipVerify.set {
		t.SkipVerify = raw.skipVerify.v
	} else if v, ok := r.env("SKIP_VERIFY"); ok {
		t.SkipVerify = v == "1" || strings.EqualFold(v, "true")
	}
	if t.SkipVerify {
		r.warnAt(raw.skipVerify.at, "secretStore.tlsSkipVerify", "TLS certificates are not verified, so anyone on the network path can read the secrets; set tlsCACert instead")
	}
	if (t.ClientCert == "") != (t.ClientKey == "") {
		r.errorAt(r.raw.store.at, "secretStore", "a client certificate needs both tlsClientCert and tlsClientKey; set both, or neither")
	}
}

// checkReadable reports an error when path cannot be opened, or is a
// folder where a file is needed. envName names the variable that gave the
// path, or is "" when the file did.
func (r *resolver) checkReadable(path string, at Position, key, envName string, folderOK bool) {
	source := ""
	if envName != "" {
		source = " (from " + envName + ")"
	}
	f, err := os.Open(path)
	if err != nil {
		r.errorAt(at, key, "cannot read %s%s: %v; check the path and its permissions", path, source, unwrapPathError(err))
		return
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() && !folderOK {
		r.errorAt(at, key, "%s%s is a folder; give the path of the file itself", path, source)
	}
}
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (r *resolver) resolveAuth(raw rawAuth, isDefault bool) Auth {
	a := Auth{Name: raw.name, Pos: raw.at}
	a.Method = strings.ToLower(raw.method.v)
	if a.Method == "" {
		a.Method = AuthToken
		if raw.roleID.set || raw.roleIDFile.set {
			a.Method = AuthAppRole
		}
	}
	if raw.namespace.set {
		a.Namespace = &raw.namespace.v
	}
	// Credentials are trimmed as credential files are, so a token pasted
	// with a line ending still works.
	a.Token, a.TokenFile = strings.TrimSpace(raw.token.v), r.absPath(raw.tokenFile.v)
	a.RoleID, a.RoleIDFile = raw.roleID.v, r.absPath(raw.roleIDFile.v)
	a.SecretID, a.SecretIDFile = raw.secretID.v, r.absPath(raw.secretIDFile.v)
	a.SecretIDWrapped = raw.secretIDWrapped.v
	a.Role = strings.TrimSpace(raw.role.v)
	a.JWT, a.JWTFile = strings.TrimSpace(raw.jwt.v), r.absPath(raw.jwtFile.v)
	a.Username = strings.TrimSpace(raw.username.v)
	// A password is used as written: spaces may belong to it.
	a.Password, a.PasswordFile = raw.password.v, r.absPath(raw.passwordFile.v)
	a.Mount = strings.Trim(raw.mount.v, "/")
	if a.Mount == "" && a.LogsIn() {
		a.Mount = defaultMount(a.Method)
	}

	path := raw.path
	if contains(authMethods, a.Method) {
		r.checkMethodKeys(raw, a.Method)
	}
	switch a.Method {
	case AuthToken:
		if a.Token != "" && a.TokenFile != "" {
			r.errorAt(raw.tokenFile.at, joinPath(path, "tokenFile"), "set token or tokenFile, not both")
		}
		if raw.token.set && raw.token.v != "" && !raw.token.fromEnv {
			r.warnAt(raw.token.at, joinPath(path, "token"), "a token is written in the file; anyone who can read the file can use it, so use ${VAULT_TOKEN} or tokenFile")
		}
		if a.Token == "" && a.TokenFile == "" && isDefault {
			a.Token, _ = r.env("TOKEN")
			a.Token = strings.TrimSpace(a.Token)
			if a.Token == "" && r.opts.HomeDir != "" {
				home := filepath.Join(r.opts.HomeDir, ".vault-token")
				if _, err := os.Stat(home); err == nil {
					a.TokenFile = home
				}
			}
		}
		needed := isDefault && r.usesDefaultCredentials() || !isDefault
		if a.Token == "" && a.TokenFile == "" && needed && !r.reported(joinPath(path, "token"), joinPath(path, "tokenFile")) {
			hint := "set token or tokenFile"
			if isDefault {
				hint = "set token or tokenFile, export VAULT_TOKEN, or log in so that ~/.vault-token exists"
			}
			r.errorAt(raw.at, path, "no token for credentials %s; %s", displayName(raw.name), hint)
		}
		if a.TokenFile != "" {
			r.checkReadable(a.TokenFile, raw.tokenFile.at, joinPath(path, "tokenFile"), "", false)
		}
	case AuthAppRole:
		if a.RoleID == "" && a.RoleIDFile == "" && !r.reported(joinPath(path, "roleId"), joinPath(path, "roleIdFile")) {
			r.errorAt(raw.at, path, "authMethod approle needs roleId or roleIdFile")
		}
		if a.RoleID != "" && a.RoleIDFile != "" {
			r.errorAt(raw.roleIDFile.at, joinPath(path, "roleIdFile"), "set roleId or roleIdFile, not both")
		}
		if a.SecretID != "" && a.SecretIDFile != "" {
			r.errorAt(raw.secretIDFile.at, joinPath(path, "secretIdFile"), "set secretId or secretIdFile, not both")
		}
		if raw.secretID.set && raw.secretID.v != "" && !raw.secretID.fromEnv {
			r.warnAt(raw.secretID.at, joinPath(path, "secretId"), "a secret id is written in the file; use ${NAME} or secretIdFile")
		}
		if a.RoleIDFile != "" {
			r.checkReadable(a.RoleIDFile, raw.roleIDFile.at, joinPath(path, "roleIdFile"), "", false)
		}
		if a.SecretIDFile != "" {
			r.checkReadable(a.SecretIDFile, raw.secretIDFile.at, joinPath(path, "secretIdFile"), "", false)
		}
		if a.SecretIDWrapped && a.SecretID == "" && a.SecretIDFile == "" && !r.reported(joinPath(path, "secretId"), joinPath(path, "secretIdFile")) {
			r.errorAt(raw.secretIDWrapped.at, joinPath(path, "secretIdWrapped"), "secretIdWrapped is true, so secretId or secretIdFile must give the wrapping token; set one of them")
		}
	case AuthJWT, AuthKubernetes:
		r.resolveJWTAuth(&a, raw)
	case AuthCert:
		r.resolveCertAuth(&a, raw)
	case AuthUserpass:
		r.resolveUserpassAuth(&a, raw)
	default:
		r.errorAt(raw.method.at, joinPath(path, "authMethod"), "authMethod %q is not supported; use %s", raw.method.v, orList(authMethods))
	}
	return a
}

// usesDefaultCredentials reports whether any secret uses the default
// credential set, so that a config whose secrets all name a set does not
// need a default token.
func (r *resolver) usesDefaultCredentials() bool {
	for _, s := range r.raw.secrets {
		if !s.credentials.set || s.credentials.v == "" {
			return true
		}
	}
	return len(r.raw.secrets) == 0
}

func displayName(name string) string {
	if name == "" {
		return "under secretStore"
	}
	return fmt.Sprintf("%q", name)
}

func (r *resolver) absPath(p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.opts.WorkDir, p)
	}
	return filepath.Clean(p)
}

func (r *resolver) resolveSecrets() {
	raw := r.raw
	if len(raw.secrets) == 0 {
		// A secrets value that is not a list was reported already.
		if !r.reported("secrets") {
			r.errorAt(raw.secretsAt, "secrets", "no secrets; add at least one entry under secrets")
		}
		return
	}
	// Names and destinations are checked for every secret, even one with
	// other errors, so that one run reports every clash.
	names := make(map[string]string, len(raw.secrets))
	r.dests = make(map[string]string, len(raw.secrets))
	r.linkedDirs = map[string]linkedDir{}
	for i, rs := range raw.secrets {
		s, ok := r.resolveSecret(rs)
		if s.Name != "" {
			if prev, dup := names[s.Name]; dup {
				r.errorAt(rs.name.at, joinPath(rs.path, "name"), "secret name %q is already used by %s; rename one, since names must be unique", s.Name, prev)
			} else {
				names[s.Name] = rs.path
			}
		}
		if ok {
			if r.cfg.Secrets == nil {
				r.cfg.Secrets = make([]Secret, 0, len(raw.secrets))
			}
			r.cfg.Secrets = append(r.cfg.Secrets, s)
		}
		// Nothing after this loop reads the raw secrets, so each is dropped
		// once resolved and its memory can be freed while the rest resolve.
		raw.secrets[i] = nil
	}
}

// claimDest records that the file at path p writes f, and reports an error
// when an earlier file of any secret writes the same destination.
func (r *resolver) claimDest(f File, at Position, p string) bool {
	if prev, dup := r.dests[f.Path]; dup {
		r.errorAt(at, p, "%s is also written by %s; give each file its own path", f.Dest, prev)
		return false
	}
	r.dests[f.Path] = p
	return true
}

func (r *resolver) resolveSecret(rs *rawSecret) (Secret, bool) {
	d := r.raw.defaults
	st := r.raw.store
	s := Secret{Pos: rs.at}
	before := len(r.problems.Errors())

	s.Name = strings.TrimSpace(rs.name.v)
	if s.Name == "" && !r.reported(joinPath(rs.path, "name")) {
		r.errorAt(rs.at, joinPath(rs.path, "name"), "missing name; give each secret a unique name")
	}

	switch {
	case rs.key.set && rs.keyPath.set && rs.key.v != rs.keyPath.v:
		r.errorAt(rs.keyPath.at, joinPath(rs.path, "path"), "key and path are two names for one setting and disagree; keep one")
	case rs.key.set:
		s.Path = rs.key.v
	default:
		s.Path = rs.keyPath.v
	}
	s.Path = strings.Trim(s.Path, "/")
	if s.Path == "" && !r.reported(joinPath(rs.path, "key"), joinPath(rs.path, "path")) {
		r.errorAt(rs.at, joinPath(rs.path, "key"), "missing key; give the secret's path under its mount, such as app/db")
	}

	generic := r.resolveEngine(rs, &s)
	s.Mount = strings.Trim(firstSet(rs.mountPath, d.mountPath, st.mountPath).or(DefaultMountPath), "/")
	if s.Mount == "" && !generic {
		r.errorAt(rs.mountPath.at, joinPath(rs.path, "mountPath"), "empty mountPath; name the secrets engine mount, such as secret")
	}
	s.KVVersion = firstSet(rs.kvVersion, d.kvVersion, st.kvVersion).or(DefaultKVVersion)
	s.Version = rs.version.v
	if rs.version.set && !generic {
		if s.KVVersion == KVv1 {
			r.errorAt(rs.version.at, joinPath(rs.path, "version"), "version pins a KV v2 version, but this secret is KV v1; remove version or set kvVersion: v2")
		}
		if s.Version < 1 {
			r.errorAt(rs.version.at, joinPath(rs.path, "version"), "version must be 1 or more; remove it to read the latest version")
		}
	}
	if generic {
		// The mount of engine generic comes from the secret alone, because
		// defaults.mountPath names a KV mount. Unset or "" means that key
		// is the whole API path.
		s.Mount, s.KVVersion, s.Version = strings.Trim(rs.mountPath.v, "/"), "", 0
	}

	s.Credentials = rs.credentials.v
	var credNamespace *string
	if s.Credentials != "" {
		set, ok := r.cfg.Store.Credentials[s.Credentials]
		if !ok {
			r.errorAt(rs.credentials.at, joinPath(rs.path, "credentials"), "credentials set %q is not defined; define it under secretStore.credentials%s", s.Credentials, definedSets(r.cfg.Store.Credentials))
		}
		credNamespace = set.Namespace
	}
	switch {
	case rs.namespace.set:
		s.Namespace = rs.namespace.v
	case credNamespace != nil:
		s.Namespace = *credNamespace
	case r.cfg.Store.Namespace != nil:
		s.Namespace = *r.cfg.Store.Namespace
	}
	s.Namespace = strings.Trim(s.Namespace, "/")

	s.Refresh = firstSet(rs.refresh, d.refresh).or(DefaultRefreshInterval)
	s.MaxStale = rs.maxStale.v
	s.OnChange = r.resolveOnChange(rs.onChange)
	s.Files = r.resolveFiles(rs, d.mode.or(DefaultMode))
	r.resolveLayout(rs, &s)
	return s, len(r.problems.Errors()) == before
}

func definedSets(sets map[string]Auth) string {
	if len(sets) == 0 {
		return " (none is defined)"
	}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sortStrings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}

func firstSet[T any](opts ...opt[T]) opt[T] {
	for _, o := range opts {
		if o.set {
			return o
		}
	}
	return opt[T]{}
}

// resolveFiles checks each destination and gives it exactly one source: its
// own template, its own field, or the template.data entry keyed by its
// basename.
func (r *resolver) resolveFiles(rs *rawSecret, defaultMode os.FileMode) []File {
	if len(rs.files) == 0 {
		if !r.reported(joinPath(rs.path, "files")) {
			r.errorAt(rs.filesAt, joinPath(rs.path, "files"), "no files; list at least one destination under files")
		}
		return nil
	}
	byKey := map[string]rawTemplateEntry{}
	for _, e := range rs.templateData {
		byKey[e.key] = e
	}
	used := map[string]bool{}
	var files []File
	var unmatchedFiles []string
	for _, rf := range rs.files {
		// The source of a file is checked even when its destination is
		// invalid or taken, so that one run reports the mistakes of both.
		f, destOK := r.resolveFile(rf, defaultMode)
		base := filepath.Base(f.Dest)
		entry, hasEntry := byKey[base]
		hasEntry = hasEntry && f.Dest != ""
		switch {
		case rf.template.set && rf.field.set:
			r.errorAt(rf.field.at, joinPath(rf.path, "field"), "set template or field, not both")
			continue
		case (rf.template.set || rf.field.set) && hasEntry:
			r.errorAt(entry.keyAt, joinPath(rs.path, "template.data."+base), "file %s has its own template or field, and template.data has a key %q for it too; keep one", f.Dest, base)
			used[base] = true
			continue
		case rf.template.set:
			f.Tmpl = r.parseTemplate(rs, rf.path+".template", rf.template)
		case rf.field.set:
			f.Field = strings.TrimSpace(rf.field.v)
			if f.Field == "" {
				r.errorAt(rf.field.at, joinPath(rf.path, "field"), "empty field; name the field of the secret to write")
			}
		case hasEntry:
			used[base] = true
			f.Tmpl = r.parseTemplate(rs, joinPath(rs.path, "template.data."+base), entry.text)
		case f.Dest == "", r.reported(joinPath(rf.path, "template"), joinPath(rf.path, "field"), joinPath(rs.path, "template.data."+base)):
			// Without a destination there is no basename to name.
			continue
		default:
			unmatchedFiles = append(unmatchedFiles, base)
			r.errorAt(rf.at, rf.path, "no template for file %s: add template.data.%s, or give the file its own template or field", f.Dest, base)
			continue
		}
		if !destOK {
			continue
		}
		r.checkModeExposure(f, rf)
		r.checkReach(f, rf)
		files = append(files, f)
	}
	for _, e := range rs.templateData {
		if used[e.key] {
			continue
		}
		msg := fmt.Sprintf("template key %q matches no file basename", e.key)
		if len(unmatchedFiles) > 0 {
			msg += fmt.Sprintf(" (files without a template: %s)", strings.Join(unmatchedFiles, ", "))
		}
		r.errorAt(e.keyAt, joinPath(rs.path, "template.data."+e.key), "%s; rename the key to the basename of the file it is for", msg)
	}
	return files
}

// resolveFile checks the destination and the settings of one file. It
// returns false when the destination is invalid. File.Dest is then still
// set, cleaned, unless the file has no destination.
func (r *resolver) resolveFile(rf rawFile, defaultMode os.FileMode) (File, bool) {
	f := File{UID: -1, GID: -1, Pos: rf.at}
	dest := strings.TrimSpace(rf.dest.v)
	p := joinPath(rf.path, "path")
	at := rf.dest.at
	if !rf.dest.set {
		at = rf.at
	}
	if dest == "" {
		if r.reported(p) {
			return f, false
		}
		r.errorAt(at, p, "missing path; give the file's destination, such as /run/secrets/db-password")
		return f, false
	}
	f.Dest = filepath.Clean(dest)
	for seg := range strings.SplitSeq(filepath.ToSlash(dest), "/") {
		if seg == ".." {
			r.errorAt(at, p, "%s contains a .. segment; write the destination without ..", dest)
			return f, false
		}
	}
	if strings.HasSuffix(dest, "/") || filepath.Base(filepath.Clean(dest)) == "." {
		r.errorAt(at, p, "%s is a folder; give a file name, such as %s", dest, filepath.Join(dest, "secret"))
		return f, false
	}
	f.Path = r.absPath(dest)
	if r.isExistingFolder(f.Path) {
		r.errorAt(at, p, "%s is an existing folder; give a file name inside it", dest)
		return f, false
	}
	if !r.claimDest(f, at, p) {
		return f, false
	}
	f.Mode = rf.mode.or(defaultMode)
	f.UID = rf.owner.or(-1)
	f.GID = rf.group.or(-1)
	f.AllowEmpty = rf.allowEmpty.v
	return f, true
}

// isExistingFolder reports whether path is a folder. A fresh write often
// goes to a folder that does not exist yet, so each destination folder is
// checked once, and the files in a missing one are not checked at all.
func (r *resolver) isExistingFolder(path string) bool {
	if !r.examineFolder(filepath.Dir(path)).exists {
		return false
	}
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

func (r *resolver) parseTemplate(rs *rawSecret, path string, src opt[string]) *template.Template {
	text := src.v
	name := rs.name.v + ":" + path
	if parsed, ok := r.templates[text]; ok {
		return parsed.Rename(name)
	}
	t, err := template.Parse(name, text)
	if err == nil {
		if r.templates == nil {
			r.templates = map[string]*template.Template{}
		}
		r.templates[text] = t
		return t
	}
	var te *template.Error
	if !errors.As(err, &te) || te.Line == 0 {
		r.errorAt(src.at, path, "invalid template: %v; fix the template syntax", err)
		return nil
	}
	p := Problem{File: r.file, Path: path, Severity: SeverityError, Line: src.at.Line, Column: src.at.Column,
		Message: fmt.Sprintf("invalid template: line %d of the template: %v; fix the template syntax", te.Line, te.Err)}
	// A literal block scalar (|) keeps its lines as written, so the
	// template's line N is the N-th line after the one with the |.
	if src.literal && !src.fromEnv {
		p.Line, p.Column = src.at.Line+te.Line, r.indentColumn(src.at.Line+te.Line)
	}
	r.problems = append(r.problems, p)
	return nil
}

// sensitiveWords mark a field or file name whose value is a key or a
// password, compared in lower case.
var sensitiveWords = []string{"key", "password", "secret", "token", "private", "credential"}

// sensitiveName returns the first of names that contains a sensitive word.
func sensitiveName(names ...string) (string, bool) {
	for _, name := range names {
		lower := strings.ToLower(name)
		for _, w := range sensitiveWords {
			if strings.Contains(lower, w) {
				return name, true
			}
		}
	}
	return "", false
}

// modeSetting returns the position and path of the setting that gave the
// file its mode: its own mode, or else defaults.mode.
func (r *resolver) modeSetting(rf rawFile) (Position, string) {
	if !rf.mode.set {
		return r.raw.defaults.mode.at, "defaults.mode"
	}
	return rf.mode.at, joinPath(rf.path, "mode")
}

// checkModeExposure warns when a file that other users may read holds a
// key or a password, judged from its field, its template's fields and its
// basename.
func (r *resolver) checkModeExposure(f File, rf rawFile) {
	if f.Mode&0o004 == 0 {
		return
	}
	var fields []string
	switch {
	case f.Field != "":
		fields = []string{f.Field}
	case f.Tmpl != nil:
		fields = f.Tmpl.Fields()
	}
	var reason string
	if name, ok := sensitiveName(fields...); ok {
		reason = fmt.Sprintf("field %q", name)
	} else if _, ok := sensitiveName(filepath.Base(f.Dest)); ok {
		reason = "its name"
	} else {
		return
	}
	at, p := r.modeSetting(rf)
	r.warnAt(at, p, "mode %s lets every user read %s, which holds a key or password (judged from %s); use \"0600\", or \"0640\" with a shared group", formatMode(f.Mode), f.Dest, reason)
}
