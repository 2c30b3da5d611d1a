package gateway

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "42", " 7 ", "18446744073709551615", "18446744073709551616", "-1", "1e3", "0x10", "٣", "+5", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseLastEventID(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with a value %d", n)
			}
			return
		}
		trimmed := strings.TrimSpace(s)
		if trimmed == "" {
			if n != 0 {
				t.Fatalf("empty gave %d", n)
			}
			return
		}
		if strings.TrimLeft(trimmed, "0") != strings.TrimLeft(strconv.FormatUint(n, 10), "0") {
			t.Fatalf("%q parsed as %d", s, n)
		}
	})
}

func testPolicy(t testing.TB) *policy {
	c := defaults()
	WithOrigins(map[string][]string{"http://localhost:5173": {"main", "settings"}, "https://app.example": nil})(&c)
	WithHosts("app.example", "other.example:8443")(&c)
	p, err := c.check()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzIdentity feeds arbitrary Host, Origin and label values to the
// boundary checks: they never panic, and whatever they accept is within
// the configuration.
func FuzzIdentity(f *testing.F) {
	seeds := [][4]string{
		{"127.0.0.1:7400", "", "", "7400"},
		{"localhost:7400", "http://localhost:5173", "settings", "7400"},
		{"localhost:7400", "http://localhost:5173", "admin", "7400"},
		{"evil.example:7400", "http://evil.example", "", "7400"},
		{"[::1]:7400", "http://[::1]:7400", "main", "7400"},
		{"app.example", "https://app.example:443", "", "80"},
		{"other.example:8443", "null", "", ""},
		{"LOCALHOST:7400", "HTTP://LOCALHOST:5173/", "main", "7400"},
		{"localhost:07400", "http://user@localhost:5173", "", "7400"},
		{"[::1", "http://[::1", "ma\nin", "1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	p := testPolicy(f)
	allowed := map[string][]string{
		"http://localhost:5173": {"main", "settings"},
		"https://app.example":   {"main"},
	}
	f.Fuzz(func(t *testing.T, host, origin, label, localPort string) {
		if herr := p.checkHost(host, localPort); herr == nil {
			name, port, ok := splitHost(host)
			if !ok {
				t.Fatalf("accepted unparsable host %q", host)
			}
			if !p.hosts[name] && !p.hostPorts[name+":"+port] {
				t.Fatalf("accepted host %q", host)
			}
		}
		id, err := p.resolve(origin, "http://"+host, label)
		if err != nil {
			if err.Code().String() != "permission_denied" {
				t.Fatalf("refusal with code %s", err.Code())
			}
			return
		}
		if label != "" && id.label != label {
			t.Fatalf("asked %q, got %q", label, id.label)
		}
		switch {
		case origin == "":
			if id.label != "main" || id.origin != "" || id.cross {
				t.Fatalf("no origin: %+v", id)
			}
		case id.cross:
			ls, ok := allowed[id.origin]
			if !ok || !slices.Contains(ls, id.label) {
				t.Fatalf("origin %q (as %q) got label %q", origin, id.origin, id.label)
			}
		default: // same origin
			self, ok := normalizeOrigin("http://" + host)
			if !ok || self != id.origin || id.label != "main" {
				t.Fatalf("same-origin %q on host %q: %+v", origin, host, id)
			}
		}
		if strings.ContainsAny(id.label+id.origin, "\r\n\x00 ") {
			t.Fatalf("unsafe identity %+v", id)
		}
	})
}
