package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// cleanEnv gives the test an environment without the caller's VAULT_*,
// BAO_* and SECRETS_SYNC_* variables, and a home folder without a
// ~/.vault-token, then sets pairs. The test's folder becomes the working
// folder.
func cleanEnv(t *testing.T, pairs ...string) string {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, prefix := range []string{"VAULT_", "BAO_", "SECRETS_SYNC_", "CONFIG_FILE", "LOG_LEVEL"} {
			if strings.HasPrefix(name, prefix) {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
		}
	}
	dir := t.TempDir()
	// t.TempDir makes its folders 0700. Opened up, they do not trigger the
	// warning for files that others may read behind a folder they cannot
	// enter.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", dir)
	for i := 0; i+1 < len(pairs); i += 2 {
		t.Setenv(pairs[i], pairs[i+1])
	}
	t.Chdir(dir)
	return dir
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// execute runs the command line in this process with stdin as standard
// input.
func execute(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// valid is a config without problems; cases change one part of it.
const valid = `secretStore:
  address: https://vault.example.com
  token: ${VAULT_TOKEN}
secrets:
  - name: db
    key: app/db
    files:
      - path: out/db-password
        field: password
`

func TestValidateMistakes(t *testing.T) {
	cases := []struct {
		name   string
		config string
		want   []string // whole lines of the output
		code   int
	}{
		{
			name:   "yaml syntax",
			config: "secretStore:\n  address: [\n",
			want:   []string{`config.yaml:2:1: invalid YAML: did not find expected node content; close every [ ] and { } and every quote, and check the indentation`},
			code:   2,
		},
		{
			name:   "empty file",
			config: "",
			want:   []string{`config.yaml:1:1: the file is empty; it needs at least a secrets: list and the server's address (secretStore.address or VAULT_ADDR); secrets-sync init prints an example`},
			code:   2,
		},
		{
			name:   "comments only",
			config: "# secretStore:\n#   address: https://vault.example.com\n",
			want:   []string{`config.yaml:1:1: the file contains only comments; it needs at least a secrets: list and the server's address (secretStore.address or VAULT_ADDR); secrets-sync init prints an example`},
			code:   2,
		},
		{
			name:   "yaml tab",
			config: "secretStore:\n\taddress: x\n",
			want:   []string{`config.yaml:2:1: invalid YAML: found character that cannot start any token; YAML indents with spaces only; replace the tab on this line`},
			code:   2,
		},
		{
			name:   "unknown key",
			config: strings.Replace(valid, "    key: app/db", "    kye: app/db", 1),
			want:   []string{`config.yaml:6:5: secrets[0].kye: unknown key "kye"; did you mean "key"?`},
			code:   2,
		},
		{
			name:   "wrong type",
			config: strings.Replace(valid, "    files:\n      - path: out/db-password\n        field: password\n", "    files: out/db-password\n", 1),
			want:   []string{`config.yaml:7:12: secrets[0].files: expected a list of files, found the value "out/db-password"; start each file with "- path:"`},
			code:   2,
		},
		{
			name:   "duration without unit",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    refreshInterval: 30\n", 1),
			want:   []string{`config.yaml:7:22: secrets[0].refreshInterval: 30 has no unit; write a duration such as "30s" or "5m"`},
			code:   2,
		},
		{
			name:   "duration that does not parse",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    refreshInterval: 5 minutes\n", 1),
			want:   []string{`config.yaml:7:22: secrets[0].refreshInterval: "5 minutes" is not a duration; write a number with a unit, such as "30s", "5m" or "1h"`},
			code:   2,
		},
		{
			name:   "duration below 1s",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    refreshInterval: 500ms\n", 1),
			want:   []string{`config.yaml:7:22: secrets[0].refreshInterval: 500ms is below the minimum of 1s; write "1s" or more`},
			code:   2,
		},
		{
			name:   "mode not octal",
			config: valid + "        mode: \"0999\"\n",
			want:   []string{`config.yaml:10:15: secrets[0].files[0].mode: "0999" is not a valid octal mode; use the digits 0-7 with a leading 0, for example "0600"`},
			code:   2,
		},
		{
			name:   "mode above 0777",
			config: valid + "        mode: \"01777\"\n",
			want:   []string{`config.yaml:10:15: secrets[0].files[0].mode: mode 01777 is above 0777; only permission bits can be set, for example "0640"`},
			code:   2,
		},
		{
			name:   "mode as yaml number",
			config: valid + "        mode: 600\n",
			want:   []string{`config.yaml:10:15: secrets[0].files[0].mode: 600 is a YAML number, not an octal mode; write "0600"`},
			code:   2,
		},
		{
			name:   "unquoted octal mode",
			config: valid + "        mode: 0640\n",
			want:   []string{`config.yaml: 0 errors, 0 warnings`},
			code:   0,
		},
		{
			name:   "quoted mode without leading zero",
			config: valid + "        mode: \"600\"\n",
			want:   []string{`config.yaml:10:15: warning: secrets[0].files[0].mode: "600" is read as octal 0600; write "0600" to say so`},
			code:   0,
		},
		{
			name: "template key matches no file",
			config: strings.Replace(valid, "      - path: out/db-password\n        field: password\n",
				"      - path: out/db-username\n      - path: out/db-password\n    template:\n      data:\n        username: '{{ .username }}'\n        db-password: '{{ .password }}'\n", 1),
			want: []string{
				`config.yaml:8:9: secrets[0].files[0]: no template for file out/db-username: add template.data.db-username, or give the file its own template or field`,
				`config.yaml:12:9: secrets[0].template.data.username: template key "username" matches no file basename (files without a template: db-username); rename the key to the basename of the file it is for`,
			},
			code: 2,
		},
		{
			name: "template does not parse",
			config: strings.Replace(valid, "        field: password\n",
				"        template: |\n          user={{ .username }}\n          password={{ .password }\n", 1),
			want: []string{`config.yaml:11:11: secrets[0].files[0].template: invalid template: line 2 of the template: unexpected "}" in operand; fix the template syntax`},
			code: 2,
		},
		{
			name:   "unknown template helper",
			config: strings.Replace(valid, "        field: password\n", "        template: '{{ .password | nosuch }}'\n", 1),
			want:   []string{`config.yaml:9:19: secrets[0].files[0].template: invalid template: line 1 of the template: function "nosuch" not defined; fix the template syntax`},
			code:   2,
		},
		{
			name:   "two files with one path",
			config: valid + "  - name: other\n    key: app/other\n    files:\n      - path: out/../out/db-password\n        field: x\n      - path: ./out/db-password\n        field: y\n",
			want: []string{
				`config.yaml:13:15: secrets[1].files[0].path: out/../out/db-password contains a .. segment; write the destination without ..`,
				`config.yaml:15:15: secrets[1].files[1].path: out/db-password is also written by secrets[0].files[0].path; give each file its own path`,
			},
			code: 2,
		},
		{
			name:   "path is a folder",
			config: strings.Replace(valid, "out/db-password", "out/", 1),
			want:   []string{`config.yaml:8:15: secrets[0].files[0].path: out/ is a folder; give a file name, such as out/secret`},
			code:   2,
		},
		{
			name:   "path is an existing folder",
			config: strings.Replace(valid, "out/db-password", "existing", 1),
			want:   []string{`config.yaml:8:15: secrets[0].files[0].path: existing is an existing folder; give a file name inside it`},
			code:   2,
		},
		{
			name:   "credentials set not defined",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    credentials: team-x\n", 1),
			want:   []string{`config.yaml:7:18: secrets[0].credentials: credentials set "team-x" is not defined; define it under secretStore.credentials (none is defined)`},
			code:   2,
		},
		{
			name:   "approle without role id",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: approle\n  secretIdFile: secret-id\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod approle needs roleId or roleIdFile`},
			code:   2,
		},
		{
			name:   "credential set without token",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  token: ${VAULT_TOKEN}\n  credentials:\n    team-a:\n      authMethod: token\n", 1),
			want:   []string{`config.yaml:5:5: secretStore.credentials.team-a: no token for credentials "team-a"; set token or tokenFile`},
			code:   2,
		},
		{
			name:   "jwt without role",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: jwt\n  jwt: ${VAULT_TOKEN}\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod jwt needs role, the name of a role at auth/jwt/role`},
			code:   2,
		},
		{
			name:   "jwt without a JWT",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: jwt\n  role: ci\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod jwt needs jwt or jwtFile, the JWT to log in with`},
			code:   2,
		},
		{
			name:   "jwt and jwtFile",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: jwt\n  role: ci\n  jwt: ${VAULT_TOKEN}\n  jwtFile: /nonexistent/oidc-token\n", 1),
			want: []string{
				`config.yaml:6:12: secretStore.jwtFile: set jwt or jwtFile, not both`,
				`config.yaml:6:12: secretStore.jwtFile: cannot read /nonexistent/oidc-token: no such file or directory; check the path and its permissions`,
			},
			code: 2,
		},
		{
			name:   "jwt in the file",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: jwt\n  role: ci\n  jwt: eyJhbGciOiJFUzI1NiJ9.e30.c2ln\n", 1),
			want:   []string{`config.yaml:5:8: warning: secretStore.jwt: a JWT is written in the file; anyone who can read the file can use it, so use ${NAME} or jwtFile`},
			code:   0,
		},
		{
			name:   "kubernetes token file missing",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: kubernetes\n  role: app\n  jwtFile: /nonexistent/sa-token\n", 1),
			want:   []string{`config.yaml:5:12: secretStore.jwtFile: cannot read /nonexistent/sa-token: no such file or directory; check the path and its permissions`},
			code:   2,
		},
		{
			name:   "kubernetes default token file",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: kubernetes\n  role: app\n", 1),
			want:   []string{`config.yaml: 0 errors, 0 warnings`},
			code:   0,
		},
		{
			name:   "kubernetes without role",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: kubernetes\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod kubernetes needs role, the name of a role at auth/kubernetes/role`},
			code:   2,
		},
		{
			name:   "cert without client certificate",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: cert\n", 1),
			want:   []string{`config.yaml:3:15: secretStore.authMethod: authMethod cert logs in with a TLS client certificate; set tlsClientCert and tlsClientKey under secretStore, or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY`},
			code:   2,
		},
		{
			name:   "userpass without username",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  password: ${VAULT_TOKEN}\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod userpass needs username`},
			code:   2,
		},
		{
			name:   "userpass without password",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  username: deploy\n", 1),
			want:   []string{`config.yaml:2:3: secretStore: authMethod userpass needs password or passwordFile`},
			code:   2,
		},
		{
			name:   "userpass name with a slash",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  username: ../sys\n  password: ${VAULT_TOKEN}\n", 1),
			want:   []string{`config.yaml:4:13: secretStore.username: username "../sys" is not a valid userpass name; use letters, digits, _, - and ., starting and ending with a letter or digit`},
			code:   2,
		},
		{
			name:   "password and passwordFile",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  username: deploy\n  password: ${VAULT_TOKEN}\n  passwordFile: /etc\n", 1),
			want: []string{
				`config.yaml:6:17: secretStore.passwordFile: set password or passwordFile, not both`,
				`config.yaml:6:17: secretStore.passwordFile: /etc is a folder; give the path of the file itself`,
			},
			code: 2,
		},
		{
			name:   "password in the file",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  username: deploy\n  password: hunter2\n", 1),
			want:   []string{`config.yaml:5:13: warning: secretStore.password: a password is written in the file; anyone who can read the file can use it, so use ${NAME} or passwordFile`},
			code:   0,
		},
		{
			name:   "key of another method",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  token: ${VAULT_TOKEN}\n  username: deploy\n", 1),
			want:   []string{`config.yaml:4:13: secretStore.username: username is a setting of authMethod userpass, but authMethod is token; remove it or set authMethod: userpass`},
			code:   2,
		},
		{
			name:   "key of several other methods",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: userpass\n  username: deploy\n  password: ${VAULT_TOKEN}\n  role: ci\n", 1),
			want:   []string{`config.yaml:6:9: secretStore.role: role is a setting of authMethod jwt, kubernetes or cert, but authMethod is userpass; remove it or set authMethod to one of those`},
			code:   2,
		},
		{
			name:   "secretIdWrapped without secret id",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: approle\n  roleId: ${VAULT_TOKEN}\n  secretIdWrapped: true\n", 1),
			want:   []string{`config.yaml:5:20: secretStore.secretIdWrapped: secretIdWrapped is true, so secretId or secretIdFile must give the wrapping token; set one of them`},
			code:   2,
		},
		{
			name:   "unsupported method",
			config: strings.Replace(valid, "  token: ${VAULT_TOKEN}\n", "  authMethod: ldap\n", 1),
			want:   []string{`config.yaml:3:15: secretStore.authMethod: authMethod "ldap" is not supported; use token, approle, jwt, kubernetes, cert or userpass`},
			code:   2,
		},
		{
			name:   "variable not set",
			config: strings.Replace(valid, "app/db", "${APP}/db", 1),
			want:   []string{`config.yaml:6:10: secrets[0].key: environment variable APP is not set; export it, or write ${APP:-fallback} to give a fallback`},
			code:   2,
		},
		{
			name:   "tls file missing",
			config: strings.Replace(valid, "  token:", "  tlsCACert: missing-ca.pem\n  token:", 1),
			want:   []string{`config.yaml:3:14: secretStore.tlsCACert: cannot read missing-ca.pem: no such file or directory; check the path and its permissions`},
			code:   2,
		},
		{
			name:   "tls file is a folder",
			config: strings.Replace(valid, "  token:", "  tlsClientCert: existing\n  tlsClientKey: client-key.pem\n  token:", 1),
			want:   []string{`config.yaml:3:18: secretStore.tlsClientCert: existing is a folder; give the path of the file itself`},
			code:   2,
		},
		{
			name:   "secret name used twice",
			config: valid + "  - name: db\n    key: app/other\n    files: [{path: out/other, field: x}]\n",
			want:   []string{`config.yaml:10:11: secrets[1].name: secret name "db" is already used by secrets[0]; rename one, since names must be unique`},
			code:   2,
		},
		{
			name:   "empty secrets list",
			config: "secretStore:\n  address: https://vault.example.com\n  token: ${VAULT_TOKEN}\nsecrets: []\n",
			want:   []string{`config.yaml:4:10: secrets: no secrets; add at least one entry under secrets`},
			code:   2,
		},
		{
			name:   "missing address",
			config: strings.Replace(valid, "  address: https://vault.example.com\n", "", 1),
			want:   []string{`config.yaml:2:3: secretStore.address: no server address; set secretStore.address in the file or VAULT_ADDR in the environment`},
			code:   2,
		},
		{
			name:   "tls not verified",
			config: strings.Replace(valid, "  token:", "  tlsSkipVerify: true\n  token:", 1),
			want:   []string{`config.yaml:3:18: warning: secretStore.tlsSkipVerify: TLS certificates are not verified, so anyone on the network path can read the secrets; set tlsCACert instead`},
			code:   0,
		},
		{
			name:   "token in the file",
			config: strings.Replace(valid, "${VAULT_TOKEN}", "hvs.literal", 1),
			want:   []string{`config.yaml:3:10: warning: secretStore.token: a token is written in the file; anyone who can read the file can use it, so use ${VAULT_TOKEN} or tokenFile`},
			code:   0,
		},
		{
			name:   "key file readable by others",
			config: valid + "        mode: \"0644\"\n",
			want:   []string{`config.yaml:10:15: warning: secrets[0].files[0].mode: mode 0644 lets every user read out/db-password, which holds a key or password (judged from field "password"); use "0600", or "0640" with a shared group`},
			code:   0,
		},
		{
			name:   "default mode readable by others",
			config: strings.Replace(valid, "secrets:\n", "defaults:\n  mode: \"0604\"\nsecrets:\n", 1) + "  - name: tls\n    key: app/tls\n    files: [{path: out/tls.key, template: '{{ .pem }}'}]\n",
			want: []string{
				`config.yaml:5:9: warning: defaults.mode: mode 0604 lets every user read out/db-password, which holds a key or password (judged from field "password"); use "0600", or "0640" with a shared group`,
				`config.yaml:5:9: warning: defaults.mode: mode 0604 lets every user read out/tls.key, which holds a key or password (judged from its name); use "0600", or "0640" with a shared group`,
			},
			code: 0,
		},
		{
			name:   "http address off loopback",
			config: strings.Replace(valid, "https://vault.example.com", "http://vault.example.com:8200", 1),
			want:   []string{`config.yaml:2:12: warning: secretStore.address: http://vault.example.com:8200 sends tokens and secrets unencrypted; use https unless the network is private`},
			code:   0,
		},
		{
			name:   "http address with a password",
			config: strings.Replace(valid, "https://vault.example.com", "http://deploy:hunter2@vault.example.com:8200", 1),
			want:   []string{`config.yaml:2:12: warning: secretStore.address: http://deploy:xxxxx@vault.example.com:8200 sends tokens and secrets unencrypted; use https unless the network is private`},
			code:   0,
		},
		{
			name:   "address with a password and no scheme",
			config: strings.Replace(valid, "https://vault.example.com", "deploy:hunter2@vault.example.com:8200", 1),
			want:   []string{`config.yaml:2:12: secretStore.address: "deploy:xxxxx@vault.example.com:8200" is not a server address; write it as https://HOST:PORT`},
			code:   2,
		},
		{
			name:   "cert with an http address with a password",
			config: strings.Replace(valid, "  address: https://vault.example.com\n  token: ${VAULT_TOKEN}\n", "  address: http://deploy:hunter2@127.0.0.1:8200\n  authMethod: cert\n", 1),
			want:   []string{`config.yaml:3:15: secretStore.authMethod: authMethod cert sends the client certificate in the TLS handshake, so it needs an https address, not http://deploy:xxxxx@127.0.0.1:8200`},
			code:   2,
		},
		{
			name:   "unknown engine",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    engine: pki\n", 1),
			want:   []string{`config.yaml:7:13: secrets[0].engine: engine "pki" is not supported; use kv (the default) or generic`},
			code:   2,
		},
		{
			name:   "method write with engine kv",
			config: strings.Replace(valid, "    key: app/db\n", "    key: app/db\n    method: write\n", 1),
			want:   []string{`config.yaml:7:13: secrets[0].method: method write sends a request that may change data, and KV secrets are only read; set engine: generic to write to a path such as pki/issue/ROLE`},
			code:   2,
		},
		{
			name:   "kvVersion with engine generic",
			config: strings.Replace(valid, "    key: app/db\n", "    key: database/creds/app\n    engine: generic\n    kvVersion: v2\n", 1),
			want:   []string{`config.yaml:8:16: secrets[0].kvVersion: kvVersion applies to engine kv only; remove it, since engine generic sends the path as written`},
			code:   2,
		},
		{
			name:   "data with method read",
			config: strings.Replace(valid, "    key: app/db\n", "    key: issue/web\n    mountPath: pki\n    engine: generic\n    data: {common_name: web.example.com}\n", 1),
			want:   []string{`config.yaml:9:11: secrets[0].data: data is sent only with method write; set method: write, or remove data`},
			code:   2,
		},
		{
			name:   "owner behind a folder only its owner may enter",
			config: strings.Replace(valid, "      - path: out/db-password\n", "      - path: existing/db-password\n        owner: 65534\n", 1),
			want:   []string{`config.yaml:9:16: warning: secrets[0].files[0].owner: owner 65534 cannot reach existing/db-password: folder ${DIR}/existing (owner ` + strconv.Itoa(os.Getuid()) + `, mode 0700) lets no one else in; run chmod go+x ${DIR}/existing, or write the file elsewhere`},
			code:   0,
		},
		{
			name:   "method write without refreshInterval",
			config: strings.Replace(valid, "    key: app/db\n", "    key: issue/web\n    mountPath: pki\n    engine: generic\n    method: write\n", 1),
			want:   []string{`config.yaml:9:13: warning: secrets[0].method: method write sends its request again at every refresh unless a lease can be renewed, and each request may issue new credentials, such as a certificate; set refreshInterval (the default is 5m), see docs/leases.md`},
			code:   0,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := cleanEnv(t, "VAULT_TOKEN", "test-token")
			if err := os.Mkdir(filepath.Join(dir, "existing"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "config.yaml"), c.config)
			res := execute(t, "", "validate", "-c", "config.yaml")
			lines := strings.Split(res.stdout, "\n")
			for _, want := range c.want {
				// ${DIR} stands for the test's folder, which a message
				// may name.
				want = strings.ReplaceAll(want, "${DIR}", dir)
				if !containsLine(lines, want) {
					t.Errorf("output lacks the line\n%s\ngot:\n%s", want, res.stdout)
				}
			}
			if res.code != c.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, c.code, res.stdout, res.stderr)
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, line := range lines {
		if line == want {
			return true
		}
	}
	return false
}

func TestValidateAllProblemsInOneRun(t *testing.T) {
	cleanEnv(t)
	writeFile(t, "config.yaml", `secretStore:
  tlsSkipVerify: true
secrets:
  - name: db
    key: app/db
    refreshInterval: 10
    files:
      - path: out/db.env
        mode: 600
        template: '{{ .user }'
  - name: db
    files:
      - path: out/tls.key
        mode: "0644"
        field: key
`)
	res := execute(t, "", "validate", "-c", "config.yaml")
	want := `config.yaml:2:3: secretStore.address: no server address; set secretStore.address in the file or VAULT_ADDR in the environment
config.yaml:2:3: secretStore: no token for credentials under secretStore; set token or tokenFile, export VAULT_TOKEN, or log in so that ~/.vault-token exists
config.yaml:2:18: warning: secretStore.tlsSkipVerify: TLS certificates are not verified, so anyone on the network path can read the secrets; set tlsCACert instead
config.yaml:6:22: secrets[0].refreshInterval: 10 has no unit; write a duration such as "10s" or "5m"
config.yaml:9:15: secrets[0].files[0].mode: 600 is a YAML number, not an octal mode; write "0600"
config.yaml:10:19: secrets[0].files[0].template: invalid template: line 1 of the template: unexpected "}" in operand; fix the template syntax
config.yaml:11:5: secrets[1].key: missing key; give the secret's path under its mount, such as app/db
config.yaml:11:11: secrets[1].name: secret name "db" is already used by secrets[0]; rename one, since names must be unique
config.yaml:14:15: warning: secrets[1].files[0].mode: mode 0644 lets every user read out/tls.key, which holds a key or password (judged from field "key"); use "0600", or "0640" with a shared group
config.yaml: 7 errors, 2 warnings
`
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}
	if res.code != ExitUsage {
		t.Errorf("exit code = %d, want %d", res.code, ExitUsage)
	}
}

func TestValidateDuplicatePathHidesNoOtherError(t *testing.T) {
	cleanEnv(t, "VAULT_TOKEN", "test-token")
	writeFile(t, "config.yaml", valid+`  - name: cache
    key: app/cache
    files:
      - path: out/db-password
        template: '{{ .password }}'
        field: password
`)
	res := execute(t, "", "validate", "-c", "config.yaml")
	want := `config.yaml:13:15: secrets[1].files[0].path: out/db-password is also written by secrets[0].files[0].path; give each file its own path
config.yaml:15:16: secrets[1].files[0].field: set template or field, not both
config.yaml: 2 errors, 0 warnings
`
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}
	if res.code != ExitUsage {
		t.Errorf("exit code = %d, want %d", res.code, ExitUsage)
	}
}

func TestValidateStrict(t *testing.T) {
	cleanEnv(t, "VAULT_TOKEN", "test-token")
	writeFile(t, "config.yaml", valid+"        mode: \"600\"\n")
	if res := execute(t, "", "validate", "-c", "config.yaml"); res.code != ExitOK {
		t.Errorf("without --strict: exit code = %d, want 0\n%s", res.code, res.stdout)
	}
	res := execute(t, "", "validate", "-c", "config.yaml", "--strict")
	if res.code != ExitUsage {
		t.Errorf("with --strict: exit code = %d, want 2\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "config.yaml: 0 errors, 1 warning\n") {
		t.Errorf("summary missing:\n%s", res.stdout)
	}
}

func TestValidateJSON(t *testing.T) {
	cleanEnv(t, "VAULT_TOKEN", "test-token")
	writeFile(t, "config.yaml", strings.Replace(valid, "    key: app/db", "    kye: app/db", 1)+"        mode: \"600\"\n")
	res := execute(t, "", "validate", "-c", "config.yaml", "--format", "json")
	if res.code != ExitUsage {
		t.Errorf("exit code = %d, want 2", res.code)
	}
	var problems []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &problems); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, res.stdout)
	}
	if len(problems) != 2 {
		t.Fatalf("got %d problems, want 2 (unknown key, mode warning):\n%s", len(problems), res.stdout)
	}
	want := map[string]any{
		"file": "config.yaml", "line": float64(6), "column": float64(5), "path": "secrets[0].kye",
		"severity": "error", "message": `unknown key "kye"; did you mean "key"?`,
	}
	for k, v := range want {
		if problems[0][k] != v {
			t.Errorf("problems[0].%s = %v, want %v", k, problems[0][k], v)
		}
	}
	if len(problems[0]) != len(want) {
		t.Errorf("problems[0] has keys %v, want exactly %d", problems[0], len(want))
	}
	if problems[1]["severity"] != "warning" {
		t.Errorf("problems[1].severity = %v, want warning", problems[1]["severity"])
	}
	if got := strings.Count(res.stdout, "\n"); got != 4 {
		t.Errorf("output has %d lines, want 5: one per problem and the brackets\n%s", got, res.stdout)
	}
	if !strings.Contains(res.stderr, "config.yaml: 1 error, 1 warning") {
		t.Errorf("stderr lacks the summary:\n%s", res.stderr)
	}
}

func TestValidateJSONClean(t *testing.T) {
	cleanEnv(t, "VAULT_TOKEN", "test-token")
	writeFile(t, "config.yaml", valid)
	res := execute(t, "", "validate", "-c", "config.yaml", "--format", "json")
	if res.code != ExitOK {
		t.Errorf("exit code = %d, want 0", res.code)
	}
	if res.stdout != "[]\n" {
		t.Errorf("stdout = %q, want an empty array", res.stdout)
	}
}

func TestValidateArguments(t *testing.T) {
	cleanEnv(t, "VAULT_TOKEN", "test-token")
	writeFile(t, "a.yaml", valid)
	writeFile(t, "b.yaml", "secrets: []\n")
	t.Run("several files", func(t *testing.T) {
		res := execute(t, "", "validate", "a.yaml", "b.yaml")
		if res.code != ExitUsage {
			t.Errorf("exit code = %d, want 2", res.code)
		}
		for _, want := range []string{"a.yaml: 0 errors, 0 warnings\n", "b.yaml: 2 errors, 0 warnings\n"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
			}
		}
	})
	t.Run("standard input", func(t *testing.T) {
		res := execute(t, valid+"        mode: 600\n", "validate", "-")
		if res.code != ExitUsage {
			t.Errorf("exit code = %d, want 2", res.code)
		}
		if !strings.Contains(res.stdout, "<stdin>:10:15: secrets[0].files[0].mode: ") {
			t.Errorf("stdout lacks the position in <stdin>:\n%s", res.stdout)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		res := execute(t, "", "validate", "nope.yaml")
		if res.code != ExitUsage {
			t.Errorf("exit code = %d, want 2", res.code)
		}
		if !strings.Contains(res.stdout, "nope.yaml: config file not found; check the path, or pass -c PATH\n") {
			t.Errorf("stdout:\n%s", res.stdout)
		}
	})
	t.Run("config from the environment", func(t *testing.T) {
		t.Setenv("SECRETS_SYNC_CONFIG", "a.yaml")
		res := execute(t, "", "validate")
		if res.code != ExitOK {
			t.Errorf("exit code = %d, want 0\n%s", res.code, res.stdout)
		}
	})
	t.Run("arguments and -c", func(t *testing.T) {
		res := execute(t, "", "validate", "-c", "a.yaml", "b.yaml")
		if res.code != ExitUsage {
			t.Errorf("exit code = %d, want 2", res.code)
		}
		if !strings.Contains(res.stderr, "not both") {
			t.Errorf("stderr:\n%s", res.stderr)
		}
	})
	t.Run("invalid format", func(t *testing.T) {
		res := execute(t, "", "validate", "a.yaml", "--format", "xml")
		if res.code != ExitUsage {
			t.Errorf("exit code = %d, want 2", res.code)
		}
		if !strings.Contains(res.stderr, `invalid --format "xml"`) {
			t.Errorf("stderr:\n%s", res.stderr)
		}
	})
}

// TestValidateExamples checks every config under testdata/valid, and each
// file under testdata/invalid against its golden output.
func TestValidateExamples(t *testing.T) {
	valid, err := filepath.Glob("../testdata/valid/*.yaml")
	if err != nil || len(valid) == 0 {
		t.Fatalf("no configs under testdata/valid: %v", err)
	}
	invalid, err := filepath.Glob("../testdata/invalid/*.yaml")
	if err != nil || len(invalid) == 0 {
		t.Fatalf("no configs under testdata/invalid: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append(valid, invalid...) {
		rel := strings.TrimPrefix(filepath.ToSlash(file), "../")
		t.Run(rel, func(t *testing.T) {
			cleanEnv(t, "VAULT_TOKEN", "test-token", "VAULT_ROLE_ID", "role", "APP_ENV", "prod")
			t.Chdir(root)
			res := execute(t, "", "validate", "--strict", rel)
			if strings.HasPrefix(rel, "testdata/valid/") {
				if res.code != ExitOK {
					t.Errorf("exit code = %d, want 0\n%s", res.code, res.stdout)
				}
				return
			}
			if res.code != ExitUsage {
				t.Errorf("exit code = %d, want 2\n%s", res.code, res.stdout)
			}
			compareGolden(t, strings.TrimSuffix(rel, ".yaml")+".golden", res.stdout)
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// compareGolden compares got with the golden file at path, or writes it
// with -update.
func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		writeFile(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./cmd -run TestValidateExamples -update to create it", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestInitPassesValidate(t *testing.T) {
	cleanEnv(t, "VAULT_ADDR", "https://vault.example.com:8200", "VAULT_TOKEN", "test-token")
	out := execute(t, "", "init")
	if out.code != ExitOK {
		t.Fatalf("init: exit code = %d\n%s", out.code, out.stderr)
	}
	if !strings.HasPrefix(out.stdout, "# yaml-language-server: $schema=secrets-sync.schema.json\n") {
		t.Errorf("init output does not start with the schema comment:\n%s", out.stdout)
	}
	res := execute(t, out.stdout, "validate", "--strict", "-")
	if res.code != ExitOK {
		t.Errorf("validate: exit code = %d, want 0\n%s", res.code, res.stdout)
	}
	if res.stdout != "<stdin>: 0 errors, 0 warnings\n" {
		t.Errorf("validate output:\n%s", res.stdout)
	}
}

func TestSchemaCommand(t *testing.T) {
	res := execute(t, "", "schema")
	if res.code != ExitOK {
		t.Fatalf("exit code = %d\n%s", res.code, res.stderr)
	}
	if res.stdout != string(config.Schema()) {
		t.Errorf("schema output differs from config.Schema()")
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &schema); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", schema["$schema"])
	}
}
