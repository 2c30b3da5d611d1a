package bus_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"greet", true},
		{"tauri://focus", true},
		{"app:ready", true},
		{"a-b_c/d:e", true},
		{"ABC123", true},
		{"_", true},
		{strings.Repeat("x", bus.MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", bus.MaxNameLen+1), false},
		{"has space", false},
		{"dot.name", false},
		{"*", false},
		{"star*", false},
		{"tab\t", false},
		{"newline\n", false},
		{"nul\x00", false},
		{"ünïcode", false},
		{"emoji😀", false},
		{"quote\"", false},
		{"back\\slash", false},
		{"<script>", false},
	}
	for _, tt := range tests {
		err := bus.ValidName(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		var te *tether.Error
		if !errors.As(err, &te) || te.Code() != tether.CodeInvalidArgument {
			t.Errorf("ValidName(%q) = %v, want a *tether.Error with invalid_argument", tt.name, err)
			continue
		}
		if len(tt.name) > 0 && len(tt.name) <= bus.MaxNameLen && !strings.Contains(te.Message(), fmt.Sprintf("%q", tt.name)) {
			t.Errorf("ValidName(%q) message %q does not name the bad name", tt.name, te.Message())
		}
	}
}

var validRef = regexp.MustCompile(`^[A-Za-z0-9\-/:_]+$`)

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"greet", "", "a b", "tauri://x", "*", "\xff", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := bus.ValidName(s)
		want := s != "" && len(s) <= bus.MaxNameLen && validRef.MatchString(s)
		if want != (err == nil) {
			t.Fatalf("ValidName(%q) = %v, want ok=%v", s, err, want)
		}
		if err != nil {
			var te *tether.Error
			if !errors.As(err, &te) || te.Code() != tether.CodeInvalidArgument {
				t.Fatalf("ValidName(%q) = %#v, want invalid_argument", s, err)
			}
		}
	})
}
