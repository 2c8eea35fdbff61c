package config

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mode reads a file mode. Modes are octal: "0600", "0o600" and an unquoted
// 0644 are read as written. An unquoted number without a leading 0, such as
// 600, is a YAML decimal number and is rejected with the fix. A quoted "600"
// is read as octal 0600, as the earlier tool read it, with a warning.
func (d *decoder) mode(n *yaml.Node, path string) (opt[fs.FileMode], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[fs.FileMode]{}, false
	}
	s = strings.TrimSpace(s)
	yamlNumber := n.Style == 0 && n.Tag == "!!int" && !expanded
	digits, prefixed := strings.CutPrefix(strings.ToLower(s), "0o")
	if !prefixed && len(s) > 1 && s[0] == '0' {
		digits, prefixed = s[1:], true
	}
	if s == "0" {
		digits, prefixed = "0", true
	}
	if digits == "" || strings.Trim(digits, "01234567") != "" {
		d.errorf(n, path, "%q is not a valid octal mode; use the digits 0-7 with a leading 0, for example \"0600\"", s)
		return opt[fs.FileMode]{}, false
	}
	if !prefixed && yamlNumber {
		d.errorf(n, path, "%s is a YAML number, not an octal mode; write \"0%s\"", s, s)
		return opt[fs.FileMode]{}, false
	}
	v, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || v > 0o777 {
		d.errorf(n, path, "mode %s is above 0777; only permission bits can be set, for example \"0640\"", s)
		return opt[fs.FileMode]{}, false
	}
	if !prefixed {
		d.warnf(n, path, "%q is read as octal 0%s; write \"0%s\" to say so", s, digits, digits)
	}
	return opt[fs.FileMode]{v: fs.FileMode(v), set: true, at: pos(n), fromEnv: expanded}, true
}

// id reads a numeric user or group id, or a name looked up in the local user
// and group databases.
func (d *decoder) id(n *yaml.Node, path string, group bool) (opt[int], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[int]{}, false
	}
	s = strings.TrimSpace(s)
	if v, err := strconv.Atoi(s); err == nil {
		if v < 0 {
			d.errorf(n, path, "%d is not a valid id; ids are 0 or more", v)
			return opt[int]{}, false
		}
		return opt[int]{v: v, set: true, at: pos(n), fromEnv: expanded}, true
	}
	var idText string
	var err error
	if group {
		var g *user.Group
		if g, err = user.LookupGroup(s); err == nil {
			idText = g.Gid
		}
	} else {
		var u *user.User
		if u, err = user.Lookup(s); err == nil {
			idText = u.Uid
		}
	}
	v, convErr := strconv.Atoi(idText)
	if err != nil || convErr != nil {
		kind := "user"
		if group {
			kind = "group"
		}
		d.errorf(n, path, "%s %q is not known on this machine; write the numeric id, which works in any image", kind, s)
		return opt[int]{}, false
	}
	return opt[int]{v: v, set: true, at: pos(n), fromEnv: expanded}, true
}

// kvVersion reads v1, v2 or auto; 1 and 2 are accepted too.
func (d *decoder) kvVersion(n *yaml.Node, path string) (opt[string], bool) {
	s, ok := d.str(n, path)
	if !ok {
		return s, false
	}
	switch strings.ToLower(strings.TrimSpace(s.v)) {
	case "v1", "1":
		s.v = KVv1
	case "v2", "2":
		s.v = KVv2
	case "auto":
		s.v = KVAuto
	default:
		d.errorf(n, path, "%q is not a KV version; write v1, v2 or auto", s.v)
		return opt[string]{}, false
	}
	return s, true
}

func formatMode(m fs.FileMode) string {
	return fmt.Sprintf("%04o", uint32(m))
}
