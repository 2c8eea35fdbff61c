package cmd

import (
	"bytes"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// redactedText replaces a credential value in output.
const redactedText = "<redacted>"

// minRedactLength keeps short values, such as a dev server's "root" token
// or a test value like "secret", from blanking out ordinary words in
// messages. Tokens, secret ids and passwords worth hiding are longer.
const minRedactLength = 8

// sensitiveName matches environment variable names that usually hold a
// credential.
var sensitiveName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|SECRET_?ID)`)

// redactor is a writer that replaces known credential values before they
// reach standard error or standard output. It is a safety net behind the
// rule that no message contains a credential: a token that a user put in
// the wrong place, such as `tokenFile: ${VAULT_TOKEN}`, must not show up in
// the error about that place.
//
// It also hides the terminal from the logging library, which otherwise
// queries a terminal for its colours and waits seconds for a reply that
// some terminals never send.
type redactor struct {
	w      io.Writer
	values *credentialSet
}

// credentialSet is the list of values that redactors replace, shared by the
// redactors of standard output and standard error.
type credentialSet struct {
	mu     sync.RWMutex
	values [][]byte
}

// addEnvironment adds the values of variables whose names suggest a
// credential, from env in os.Environ form.
func (r *credentialSet) addEnvironment(env []string) {
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && sensitiveName.MatchString(name) {
			r.add(value)
		}
	}
}

// add registers credential values to replace.
func (r *credentialSet) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < minRedactLength {
			continue
		}
		r.values = append(r.values, []byte(v))
	}
}

func (r *redactor) Write(p []byte) (int, error) {
	out := r.values.replace(p)
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// replace returns p with every known value replaced.
func (r *credentialSet) replace(p []byte) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := p
	for _, v := range r.values {
		if bytes.Contains(out, v) {
			out = bytes.ReplaceAll(out, v, []byte(redactedText))
		}
	}
	return out
}

// addConfig adds the credentials written in or expanded into a config,
// and the passwords in its server addresses.
func (r *credentialSet) addConfig(cfg *config.Config) {
	sets := []config.Auth{cfg.Store.Auth}
	for _, a := range cfg.Store.Credentials {
		sets = append(sets, a)
	}
	for _, a := range sets {
		r.add(a.Token, a.SecretID)
	}
	for _, address := range cfg.Store.Addresses {
		u, err := url.Parse(address)
		if err != nil {
			continue
		}
		if password, ok := u.User.Password(); ok {
			r.add(password)
		}
	}
}
