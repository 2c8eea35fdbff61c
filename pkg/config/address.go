package config

import (
	"net/url"
	"strings"
)

// redactedPassword replaces the password of an address, as
// (*url.URL).Redacted writes it.
const redactedPassword = "xxxxx"

// RedactAddress returns address as logs, errors and the status file show
// it: with the password of its user info replaced by "xxxxx", as
// (*url.URL).Redacted does, so http://bob:pw@host becomes
// http://bob:xxxxx@host. Requests still go to the address as written.
//
// An address that does not parse as a URL with a host, such as
// "bob:pw@host" without a scheme, may still hold a password that the
// parser cannot locate. In such an address everything between the first
// colon of the user info and the last "@" is replaced.
func RedactAddress(address string) string {
	u, err := url.Parse(address)
	if err == nil && u.Scheme != "" && u.Host != "" {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		return address
	}
	at := strings.LastIndex(address, "@")
	if at < 0 {
		return address
	}
	start := 0
	if i := strings.Index(address[:at], "://"); i >= 0 {
		start = i + len("://")
	}
	colon := strings.Index(address[start:at], ":")
	if colon < 0 {
		return address
	}
	colon += start
	return address[:colon+1] + redactedPassword + address[at:]
}
