package config

// DefaultCredentialsName is the name that logs, errors and metrics give the
// default credential set, the one under secretStore.
const DefaultCredentialsName = "default"

// CredentialsName returns the name of credential set name as logs, errors
// and metrics show it: DefaultCredentialsName for the default set "".
func CredentialsName(name string) string {
	if name == "" {
		return DefaultCredentialsName
	}
	return name
}
