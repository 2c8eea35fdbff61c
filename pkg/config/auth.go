package config

import (
	"regexp"
	"strings"
)

// credentialKey is one key of a credential set that only some auth
// methods use.
type credentialKey struct {
	key     string
	set     bool
	at      Position
	methods []string
}

// credentialKeys lists the keys of raw that belong to particular methods,
// in the order they are documented. authMethod, authMount and namespace
// apply to every method and are not listed.
func (raw rawAuth) credentialKeys() []credentialKey {
	token := []string{AuthToken}
	approle := []string{AuthAppRole}
	jwt := []string{AuthJWT, AuthKubernetes}
	return []credentialKey{
		{"token", raw.token.set, raw.token.at, token},
		{"tokenFile", raw.tokenFile.set, raw.tokenFile.at, token},
		{"roleId", raw.roleID.set, raw.roleID.at, approle},
		{"roleIdFile", raw.roleIDFile.set, raw.roleIDFile.at, approle},
		{"secretId", raw.secretID.set, raw.secretID.at, approle},
		{"secretIdFile", raw.secretIDFile.set, raw.secretIDFile.at, approle},
		{"secretIdWrapped", raw.secretIDWrapped.set, raw.secretIDWrapped.at, approle},
		{"role", raw.role.set, raw.role.at, []string{AuthJWT, AuthKubernetes, AuthCert}},
		{"jwt", raw.jwt.set, raw.jwt.at, jwt},
		{"jwtFile", raw.jwtFile.set, raw.jwtFile.at, jwt},
		{"username", raw.username.set, raw.username.at, []string{AuthUserpass}},
		{"password", raw.password.set, raw.password.at, []string{AuthUserpass}},
		{"passwordFile", raw.passwordFile.set, raw.passwordFile.at, []string{AuthUserpass}},
	}
}

// checkMethodKeys reports each key of raw that method does not use, since
// a key that is silently ignored hides a mistake in authMethod.
func (r *resolver) checkMethodKeys(raw rawAuth, method string) {
	for _, k := range raw.credentialKeys() {
		if !k.set || contains(k.methods, method) {
			continue
		}
		fix := "set authMethod: " + k.methods[0]
		if len(k.methods) > 1 {
			fix = "set authMethod to one of those"
		}
		r.errorAt(k.at, joinPath(raw.path, k.key), "%s is a setting of authMethod %s, but authMethod is %s; remove it or %s",
			k.key, orList(k.methods), method, fix)
	}
}

// orList joins words as "a", "a or b", or "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// checkSource checks a credential that comes from a value or from a file:
// not both, a warning when the value is written in the config file, and a
// file that can be read. credential names the value in the warning.
func (r *resolver) checkSource(raw rawAuth, value opt[string], file string, fileOpt opt[string], valueKey, fileKey, credential string) {
	path := raw.path
	if value.v != "" && file != "" {
		r.errorAt(fileOpt.at, joinPath(path, fileKey), "set %s or %s, not both", valueKey, fileKey)
	}
	if value.set && value.v != "" && !value.fromEnv {
		r.warnAt(value.at, joinPath(path, valueKey), "%s is written in the file; anyone who can read the file can use it, so use ${NAME} or %s", credential, fileKey)
	}
	if file != "" {
		r.checkReadable(file, fileOpt.at, joinPath(path, fileKey), "", false)
	}
}

// resolveJWTAuth checks a jwt or kubernetes set: a role, and a JWT from jwt
// or jwtFile. A kubernetes set without either reads the pod's service
// account token from DefaultKubernetesTokenFile. That file is not checked
// here, because validate often runs outside the pod.
func (r *resolver) resolveJWTAuth(a *Auth, raw rawAuth) {
	path := raw.path
	if a.Role == "" && !r.reported(joinPath(path, "role")) {
		r.errorAt(raw.at, path, "authMethod %s needs role, the name of a role at auth/%s/role", a.Method, a.Mount)
	}
	r.checkSource(raw, raw.jwt, a.JWTFile, raw.jwtFile, "jwt", "jwtFile", "a JWT")
	if a.JWT != "" || a.JWTFile != "" || r.reported(joinPath(path, "jwt"), joinPath(path, "jwtFile")) {
		return
	}
	if a.Method == AuthKubernetes {
		a.JWTFile = DefaultKubernetesTokenFile
		return
	}
	r.errorAt(raw.at, path, "authMethod jwt needs jwt or jwtFile, the JWT to log in with")
}

// resolveCertAuth checks a cert set. It logs in with the TLS client
// certificate of secretStore, so it needs one, and an https address.
func (r *resolver) resolveCertAuth(a *Auth, raw rawAuth) {
	at := raw.method.at
	if !raw.method.set {
		at = raw.at
	}
	path := joinPath(raw.path, "authMethod")
	tls := r.cfg.Store.TLS
	if tls.ClientCert == "" && tls.ClientKey == "" && !r.reported("secretStore.tlsClientCert", "secretStore.tlsClientKey") {
		r.errorAt(at, path, "authMethod cert logs in with a TLS client certificate; set tlsClientCert and tlsClientKey under secretStore, or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY")
	}
	for _, address := range r.cfg.Store.Addresses {
		if strings.HasPrefix(address, "http://") {
			r.errorAt(at, path, "authMethod cert sends the client certificate in the TLS handshake, so it needs an https address, not %s", RedactAddress(address))
		}
	}
}

// userpassName matches the user names that Vault's userpass method
// accepts in its login path: Vault 1.13 matches login/<username> with
// framework.GenericNameRegex. The name becomes part of the request path,
// which the api client cleans of .. segments, so nothing else may pass.
var userpassName = regexp.MustCompile(`^\w([\w.-]*\w)?$`)

// resolveUserpassAuth checks a userpass set: a username, and a password
// from password or passwordFile.
func (r *resolver) resolveUserpassAuth(a *Auth, raw rawAuth) {
	path := raw.path
	switch {
	case a.Username == "" && !r.reported(joinPath(path, "username")):
		r.errorAt(raw.at, path, "authMethod userpass needs username")
	case a.Username != "" && !userpassName.MatchString(a.Username):
		r.errorAt(raw.username.at, joinPath(path, "username"), "username %q is not a valid userpass name; use letters, digits, _, - and ., starting and ending with a letter or digit", a.Username)
	}
	r.checkSource(raw, raw.password, a.PasswordFile, raw.passwordFile, "password", "passwordFile", "a password")
	if a.Password == "" && a.PasswordFile == "" && !r.reported(joinPath(path, "password"), joinPath(path, "passwordFile")) {
		r.errorAt(raw.at, path, "authMethod userpass needs password or passwordFile")
	}
}

// defaultMount returns the auth mount of a login method when authMount is
// not set: the method's name, as `vault auth enable` mounts it.
func defaultMount(method string) string {
	if method == AuthAppRole {
		return DefaultAppRoleMount
	}
	return method
}

// authMethods lists the values of authMethod that the loader accepts.
var authMethods = []string{AuthToken, AuthAppRole, AuthJWT, AuthKubernetes, AuthCert, AuthUserpass}
