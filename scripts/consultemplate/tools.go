//go:build tools

// Package consultemplate pins the consul-template release that the
// benchmark in scripts/bench runs beside secrets-sync. It is a separate
// module so that consul-template's dependencies never enter the
// secrets-sync binary.
package consultemplate

import _ "github.com/hashicorp/consul-template"
