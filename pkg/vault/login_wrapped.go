package vault

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// unwrapped keeps, for each approle set with secretIdWrapped, the secret id
// that this process unwrapped, with a digest of its wrapping token. A
// wrapping token works once, so the logins that replace an expiring token
// reuse the secret id instead. It is kept in process memory only: never
// written to a file, a log or the status file. The store is package-wide,
// so a config reload that builds a new Client keeps it. mu also serializes
// unwrapping, so two logins of one set never both spend the token.
var unwrapped = struct {
	mu  sync.Mutex
	ids map[string]unwrappedSecretID // by credential set name and namespace
}{ids: map[string]unwrappedSecretID{}}

type unwrappedSecretID struct {
	wrappingToken [sha256.Size]byte // digest of the token it came from
	secretID      string
}

// unwrappedSecretID returns the secret id that wrappingToken wraps. It
// unwraps the token at the set's first login with it, and later calls
// with the same token return the secret id from memory. A new wrapping
// token in secretIdFile replaces the kept secret id at the next login.
func (c *Client) unwrappedSecretID(ctx context.Context, auth config.Auth, namespace, wrappingToken string) (string, error) {
	key := auth.Name + "\x00" + namespace
	digest := sha256.Sum256([]byte(wrappingToken))
	unwrapped.mu.Lock()
	defer unwrapped.mu.Unlock()
	if kept, ok := unwrapped.ids[key]; ok && kept.wrappingToken == digest {
		return kept.secretID, nil
	}
	secretID, err := c.unwrapSecretID(ctx, auth, namespace, wrappingToken)
	if err != nil {
		return "", err
	}
	unwrapped.ids[key] = unwrappedSecretID{wrappingToken: digest, secretID: secretID}
	c.logger.Info("secret id unwrapped, kept in memory for later logins", "credentials", config.CredentialsName(auth.Name), "mount", auth.Mount)
	return secretID, nil
}

// unwrapSecretID looks the wrapping token up, checks that it wraps a
// secret id of the set's AppRole mount, and unwraps it. The lookup does
// not use the token up, so a token that wraps anything else is rejected
// before it is spent.
func (c *Client) unwrapSecretID(ctx context.Context, auth config.Auth, namespace, wrappingToken string) (string, error) {
	source := secretIDSource(auth)
	spentHint := fmt.Sprintf("a wrapping token works once and expires with its TTL, so write a new one to %s; if this process did not unwrap it before, someone else may have, so treat that secret id as exposed", source)

	lookupOp := "look up the wrapping token in " + source
	resp, err := c.do(ctx, lookupOp, "PUT", "sys/wrapping/lookup", "", namespace, map[string]any{"token": wrappingToken}, nil)
	if err != nil {
		return "", authError(err, spentHint)
	}
	creationPath, _ := resp.Data["creation_path"].(string)
	if !isSecretIDPath(creationPath, auth.Mount, namespace) {
		return "", &Error{Kind: KindAuth, Op: lookupOp, Address: c.Address(),
			Err: fmt.Errorf("the token wraps the response of %q, not a secret id from auth/%s/role/NAME/secret-id; it was not unwrapped, and it may have been tampered with", creationPath, auth.Mount)}
	}

	unwrapOp := "unwrap the secret id in " + source
	resp, err = c.do(ctx, unwrapOp, "PUT", "sys/wrapping/unwrap", wrappingToken, namespace, nil, nil)
	if err != nil {
		return "", authError(err, spentHint)
	}
	secretID, _ := resp.Data["secret_id"].(string)
	if secretID == "" {
		return "", &Error{Kind: KindAuth, Op: unwrapOp, Address: c.Address(), Err: errors.New("the unwrapped response contains no secret_id")}
	}
	return secretID, nil
}

// isSecretIDPath reports whether creationPath, the path whose response a
// wrapping token wraps, creates a secret id of a role at mount:
// auth/<mount>/role/<role>/secret-id or .../custom-secret-id, or the same
// under namespace.
//
// NOTE: whether Vault Enterprise and OpenBao report the path with the
// namespace in front is not known here, so both forms pass; only the root
// namespace of Vault 1.13 is tested.
func isSecretIDPath(creationPath, mount, namespace string) bool {
	rest, ok := strings.CutPrefix(creationPath, "auth/"+mount+"/role/")
	if !ok && namespace != "" {
		rest, ok = strings.CutPrefix(creationPath, strings.Trim(namespace, "/")+"/auth/"+mount+"/role/")
	}
	if !ok {
		return false
	}
	role, endpoint, ok := strings.Cut(rest, "/")
	return ok && role != "" && (endpoint == "secret-id" || endpoint == "custom-secret-id")
}

// secretIDSource names where the wrapping token of auth comes from.
func secretIDSource(auth config.Auth) string {
	if auth.SecretIDFile != "" {
		return "secretIdFile " + auth.SecretIDFile
	}
	return "secretId"
}
