package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

func TestJitterBounds(t *testing.T) {
	d := 10 * time.Second
	for _, rnd := range []float64{0, 0.25, 0.5, 0.75, 0.999999} {
		got := jittered(d, 0.1, rnd)
		if got < 9*time.Second || got > 11*time.Second {
			t.Errorf("jittered(10s, 0.1, %v) = %v, want within 9s..11s", rnd, got)
		}
	}
	if got := jittered(d, 0.1, 0); got != 9*time.Second {
		t.Errorf("lowest jitter = %v, want 9s", got)
	}
	if got := jittered(d, 0.1, 0.5); got != d {
		t.Errorf("middle jitter = %v, want 10s", got)
	}
	if got := jittered(d, 0, 0.9); got != d {
		t.Errorf("no jitter = %v, want 10s", got)
	}
}

func TestJitterSpreadsSecrets(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 100 {
		seen[jittered(time.Minute, DefaultJitter, float64(i)/100)] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 draws gave %d distinct intervals, want them spread", len(seen))
	}
}

func TestBackoffDoublesToCap(t *testing.T) {
	b := backoff{base: time.Second, max: 10 * time.Second}
	// With rnd at its top, the delay is the whole step.
	wantTop := []time.Duration{1, 2, 4, 8, 10, 10, 10}
	for i, want := range wantTop {
		n := i + 1
		got := b.delay(n, 0.999999)
		if got > want*time.Second || got < want*time.Second-time.Millisecond {
			t.Errorf("delay(%d, top) = %v, want about %v", n, got, want*time.Second)
		}
		if low := b.delay(n, 0); low != want*time.Second/2 {
			t.Errorf("delay(%d, bottom) = %v, want %v", n, low, want*time.Second/2)
		}
	}
	if got := b.delay(1000, 0.999999); got > 10*time.Second {
		t.Errorf("delay after 1000 failures = %v, above the cap", got)
	}
}

func TestSecretBackoffCap(t *testing.T) {
	cases := []struct {
		refresh time.Duration
		wantMax time.Duration
	}{
		{time.Second, time.Second},
		{30 * time.Second, 30 * time.Second},
		{time.Hour, DefaultMaxBackoff},
	}
	for _, c := range cases {
		b := secretBackoff(c.refresh, DefaultMinBackoff, DefaultMaxBackoff)
		if b.max != c.wantMax {
			t.Errorf("refresh %v: cap = %v, want %v", c.refresh, b.max, c.wantMax)
		}
		if got := b.delay(50, 0.999999); got > c.wantMax {
			t.Errorf("refresh %v: delay = %v, above the cap %v", c.refresh, got, c.wantMax)
		}
	}
}

func TestIsOutage(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"unreachable", &vault.Error{Kind: vault.KindUnreachable}, true},
		{"sealed", &vault.Error{Kind: vault.KindUnavailable, Status: 503}, true},
		{"rate limited", &vault.Error{Kind: vault.KindUnavailable, Status: 429}, false},
		{"forbidden", &vault.Error{Kind: vault.KindForbidden, Status: 403}, false},
		{"tls", &vault.Error{Kind: vault.KindTLS}, false},
		{"wrapped login", &SecretError{Secret: "s", Err: &LoginError{Err: &vault.Error{Kind: vault.KindUnreachable}}}, true},
		{"other", errors.New("boom"), false},
	}
	for _, c := range cases {
		if got := isOutage(c.err); got != c.want {
			t.Errorf("%s: isOutage = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSelectDueSharesReads(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := &entry{secret: secretWithRefresh("due", "app", time.Minute), next: now}
	sameSoon := &entry{secret: secretWithRefresh("same-soon", "data/app", time.Minute), next: now.Add(5 * time.Second)}
	sameLate := &entry{secret: secretWithRefresh("same-late", "app", time.Minute), next: now.Add(30 * time.Second)}
	otherSoon := &entry{secret: secretWithRefresh("other-soon", "other", time.Minute), next: now.Add(time.Second)}
	running := &entry{secret: secretWithRefresh("running", "app", time.Minute), next: now, running: true}
	entries := []*entry{due, sameSoon, sameLate, otherSoon, running}

	got := selectDue(entries, now, DefaultJitter)
	names := map[string]bool{}
	for _, e := range got {
		names[e.secret.Name] = true
	}
	if !names["due"] {
		t.Error("the due secret was not picked")
	}
	if !names["same-soon"] {
		t.Error("a secret with the same read, due within the jitter span, was not picked with it")
	}
	if names["same-late"] {
		t.Error("a secret with the same read, due after the jitter span, was picked")
	}
	if names["other-soon"] {
		t.Error("a secret with another read that is not due was picked")
	}
	if names["running"] {
		t.Error("a secret in a round already was picked again")
	}
	if got := selectDue([]*entry{sameLate, otherSoon}, now, DefaultJitter); got != nil {
		t.Errorf("nothing due, got %d entries", len(got))
	}
}

func TestSelectDueEarlyFromWait(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A refresh interval of 1h, but a certificate that is due again after
	// 20s: its early span comes from the 20s, so 0.2s with the default jitter.
	cert := &entry{secret: secretWithRefresh("cert", "pki", time.Hour)}
	cert.schedule(start, start.Add(20*time.Second), DefaultJitter)
	slow := &entry{secret: secretWithRefresh("slow", "app", time.Hour)}
	slow.schedule(start, start.Add(time.Hour), DefaultJitter)

	if got := selectDue([]*entry{cert}, start.Add(10*time.Second), DefaultJitter); got != nil {
		t.Errorf("a certificate due in 10s was picked early, as if its wait were the 1h interval")
	}
	if got := selectDue([]*entry{cert}, start.Add(19900*time.Millisecond), DefaultJitter); len(got) != 1 {
		t.Errorf("a certificate due in 0.1s, within its early span, was not picked")
	}
	if got := selectDue([]*entry{slow}, start.Add(time.Hour-30*time.Second), DefaultJitter); len(got) != 1 {
		t.Errorf("a secret due in 30s of a 1h wait, within its early span of 36s, was not picked")
	}
	if got := selectDue([]*entry{slow}, start.Add(time.Hour-time.Minute), DefaultJitter); got != nil {
		t.Errorf("a secret due in 1m of a 1h wait was picked early")
	}
}

func secretWithRefresh(name, path string, refresh time.Duration) config.Secret {
	s := secretOf(name, path, fieldFile("/"+name, "v"))
	s.Refresh = refresh
	return s
}

func TestPlanToken(t *testing.T) {
	checked := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	info := func(ttl time.Duration, renewable bool) vault.TokenInfo {
		return vault.TokenInfo{TTL: ttl, Renewable: renewable, Increment: ttl, Checked: checked}
	}
	cases := []struct {
		name     string
		info     vault.TokenInfo
		canLogin bool
		capped   bool
		want     tokenAction
		wantAt   time.Time
	}{
		{"never expires", info(0, false), false, false, tokenWait, time.Time{}},
		{"renewable", info(30*time.Second, true), false, false, tokenRenew, checked.Add(20 * time.Second)},
		{"approle renewable", info(30*time.Second, true), true, false, tokenRenew, checked.Add(20 * time.Second)},
		{"approle capped", info(30*time.Second, true), true, true, tokenLogin, checked},
		{"approle not renewable", info(30*time.Second, false), true, false, tokenLogin, checked.Add(20 * time.Second)},
		{"given token not renewable", info(30*time.Second, false), false, false, tokenVerify, checked.Add(30 * time.Second)},
		{"given token capped", info(30*time.Second, true), false, true, tokenVerify, checked.Add(30 * time.Second)},
	}
	for _, c := range cases {
		action, at := planToken(c.info, c.canLogin, c.capped)
		if action != c.want {
			t.Errorf("%s: action = %v, want %v", c.name, action, c.want)
		}
		if !at.Equal(c.wantAt) {
			t.Errorf("%s: at = %v, want %v", c.name, at, c.wantAt)
		}
	}
}

func TestSameSecret(t *testing.T) {
	a := secretWithRefresh("a", "app", time.Minute)
	b := a
	b.Pos = config.Position{Line: 40, Column: 3}
	b.Files = []config.File{fieldFile("/a", "v")}
	b.Files[0].Pos = config.Position{Line: 44, Column: 5}
	if !sameSecret(a, b) {
		t.Error("secrets that differ only in their place in the file are not the same")
	}
	c := a
	c.Refresh = 2 * time.Minute
	if sameSecret(a, c) {
		t.Error("a changed refresh interval is not a change")
	}
	d := a
	d.Files = []config.File{fieldFile("/a", "other")}
	if sameSecret(a, d) {
		t.Error("a changed field is not a change")
	}
	e := a
	e.OnChange = &config.OnChange{Command: []string{"true"}}
	if sameSecret(a, e) {
		t.Error("an added onChange is not a change")
	}
}

func TestSameSecretTemplates(t *testing.T) {
	parse := func(text string) *template.Template {
		t.Helper()
		tmpl, err := template.Parse("/a", text)
		if err != nil {
			t.Fatal(err)
		}
		return tmpl
	}
	withTemplate := func(tmpl *template.Template) config.Secret {
		s := secretWithRefresh("a", "app", time.Minute)
		s.Files = []config.File{{Path: "/a", Dest: "/a", Tmpl: tmpl, Mode: 0o600, UID: -1, GID: -1}}
		return s
	}
	a := withTemplate(parse("{{ .password }}"))
	if !sameSecret(a, withTemplate(parse("{{ .password }}"))) {
		t.Error("two parses of one template text are not the same")
	}
	if sameSecret(a, withTemplate(parse("{{ .username }}"))) {
		t.Error("a changed template text is not a change")
	}
	if sameSecret(a, withTemplate(nil)) {
		t.Error("a template replaced by none is not a change")
	}
}

// recordingObserver counts the calls it gets.
type recordingObserver struct {
	reads, secrets int
}

func (r *recordingObserver) ReadDone([]string, time.Duration, error) { r.reads++ }
func (r *recordingObserver) SecretDone(string, []sink.Result, error) { r.secrets++ }

func TestFanOut(t *testing.T) {
	first, second := &recordingObserver{}, &recordingObserver{}
	o := FanOut(first, nil, second)
	o.ReadDone([]string{"a"}, time.Millisecond, nil)
	o.SecretDone("a", nil, nil)
	o.SecretDone("b", nil, errors.New("failed"))
	for i, r := range []*recordingObserver{first, second} {
		if r.reads != 1 {
			t.Errorf("observer %d got %d reads, want 1", i, r.reads)
		}
		if r.secrets != 2 {
			t.Errorf("observer %d got %d secrets, want 2", i, r.secrets)
		}
	}
}
