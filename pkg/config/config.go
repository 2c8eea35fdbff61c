package config

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
)

// Built-in defaults, applied after the file and the environment.
const (
	DefaultMountPath       = "secret"
	DefaultKVVersion       = KVv2
	DefaultRefreshInterval = 5 * time.Minute
	DefaultMode            = fs.FileMode(0o600)
	MinRefreshInterval     = time.Second
	DefaultAppRoleMount    = "approle"
	// DefaultKubernetesTokenFile is where Kubernetes mounts the pod's
	// service account token, read by authMethod kubernetes without jwtFile.
	DefaultKubernetesTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// KV engine versions.
const (
	KVv1   = "v1"
	KVv2   = "v2"
	KVAuto = "auto"
)

// Secrets engines that a secret can read from. EngineKV reads KV v1 or v2
// paths and adds KV v2's data/ segment. EngineGeneric sends the request to
// the path as written, to any engine, such as PKI or database.
const (
	EngineKV      = "kv"
	EngineGeneric = "generic"
)

// Request methods of engine generic: MethodRead sends a GET, MethodWrite a
// PUT with the secret's data as the JSON body.
const (
	MethodRead  = "read"
	MethodWrite = "write"
)

// Auth methods that the loader accepts. Every method but AuthToken logs in
// at auth/<mount>/login, and its mount defaults to the method's name.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthJWT        = "jwt"
	AuthKubernetes = "kubernetes"
	AuthCert       = "cert"
	AuthUserpass   = "userpass"
)

// Config is a loaded, resolved and checked configuration.
type Config struct {
	File     string // path of the file it came from
	Store    Store
	Secrets  []Secret
	Warnings Problems
}

// Store describes the Vault or OpenBao server and how to log in to it.
type Store struct {
	Addresses []string
	// Namespace is the default namespace for every secret; nil means none
	// was given, which is the root namespace.
	Namespace *string
	TLS       TLS
	// Auth is the default credential set, used by secrets that name none.
	Auth        Auth
	Credentials map[string]Auth
}

// TLS holds the TLS settings for connections to the server.
type TLS struct {
	CACert     string
	CAPath     string
	ClientCert string
	ClientKey  string
	ServerName string
	SkipVerify bool
}

// Auth is one credential set: a way to obtain a token.
type Auth struct {
	Name      string // "" for the default set under secretStore
	Method    string // one of the Auth* constants
	Mount     string // auth mount path for login methods
	Namespace *string

	Token     string
	TokenFile string

	RoleID       string
	RoleIDFile   string
	SecretID     string
	SecretIDFile string
	// SecretIDWrapped means that SecretID or SecretIDFile contains a
	// response-wrapping token, which wraps the secret id.
	SecretIDWrapped bool

	// Role is the role of a jwt, kubernetes or cert login; for cert it
	// may be empty.
	Role string
	// JWT or JWTFile is the JWT of a jwt login, or the service account
	// token of a kubernetes login.
	JWT     string
	JWTFile string

	Username     string
	Password     string
	PasswordFile string

	Pos Position // position of the set's key, or of secretStore for the default set
}

// LogsIn reports whether the set obtains its token by logging in, so that
// the process owns the token, renews it, replaces it by logging in again
// and revokes it. A token set is given its token instead.
func (a Auth) LogsIn() bool { return a.Method != AuthToken }

// String describes the credential set without any credential in it, so a
// set can be logged or printed in an error safely.
func (a Auth) String() string {
	name := a.Name
	if name == "" {
		name = "default"
	}
	switch a.Method {
	case AuthAppRole:
		return fmt.Sprintf("%s (approle, mount %s, role id set: %t, secret id set: %t, wrapped: %t)",
			name, a.Mount, a.RoleID != "" || a.RoleIDFile != "", a.SecretID != "" || a.SecretIDFile != "", a.SecretIDWrapped)
	case AuthJWT, AuthKubernetes:
		return fmt.Sprintf("%s (%s, mount %s, role %q, jwt set: %t, jwt file: %q)",
			name, a.Method, a.Mount, a.Role, a.JWT != "", a.JWTFile)
	case AuthCert:
		return fmt.Sprintf("%s (cert, mount %s, role %q)", name, a.Mount, a.Role)
	case AuthUserpass:
		return fmt.Sprintf("%s (userpass, mount %s, username %q, password set: %t, password file: %q)",
			name, a.Mount, a.Username, a.Password != "", a.PasswordFile)
	default:
		return fmt.Sprintf("%s (token, token set: %t, token file: %q)", name, a.Token != "", a.TokenFile)
	}
}

// GoString keeps credentials out of %#v output too.
func (a Auth) GoString() string { return "config.Auth{" + a.String() + "}" }

// Secret is one secret to read and the files rendered from it.
type Secret struct {
	Name        string
	Path        string // path under the mount, as written (trimmed of slashes)
	Mount       string // "" only with EngineGeneric, where Path is then the whole API path
	Engine      string // EngineKV or EngineGeneric
	Method      string // MethodRead or MethodWrite; always MethodRead with EngineKV
	KVVersion   string // KVv1, KVv2 or KVAuto; "" with EngineGeneric
	Version     int    // pinned KV v2 version; 0 means the latest
	Namespace   string // resolved: the secret's, else the store's, else root ""
	Credentials string // name of the credential set; "" is the default set
	Refresh     time.Duration
	// WriteData is the JSON body of a MethodWrite request: each value is a
	// string or a []string, expanded from the environment. Nil otherwise.
	WriteData map[string]any
	// MaxStale is how long a secret may fail to refresh before it counts
	// as stale; 0 means never.
	MaxStale time.Duration
	OnChange *OnChange // nil when nothing runs on a change
	Files    []File
	// Layout is LayoutFiles or LayoutLinked: how the files sit on disk.
	Layout string
	Pos    Position
}

// File is one destination of a secret.
type File struct {
	Path       string             // absolute, clean
	Dest       string             // as written in the config, cleaned
	Tmpl       *template.Template // nil when Field is set
	Field      string             // one field written raw
	Mode       fs.FileMode
	UID, GID   int // -1 when not set
	AllowEmpty bool
	Pos        Position
	// NewFolders maps each folder above Path to the mode, owner and group
	// it gets if a write creates it. Every file of a config shares the one
	// map.
	NewFolders map[string]sink.FolderAttrs
}

// Position is the line and column of a value in the config file.
type Position struct {
	Line, Column int
}
