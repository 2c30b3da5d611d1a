package capability

import "testing"

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern string
		sep     byte
		s       string
		want    bool
	}{
		{"main", 0, "main", true},
		{"main", 0, "main2", false},
		{"*", 0, "anything/at:all", true},
		{"editor-*", 0, "editor-", true},
		{"editor-*", 0, "editor-1", true},
		{"editor-*", 0, "xeditor-1", false},
		{"*-tool", 0, "a-tool", true},
		{"*-tool", 0, "a-tools", false},
		{"a*b*c", 0, "abc", true},
		{"a*b*c", 0, "a-b-b-c", true},
		{"a*b*c", 0, "a-b-c-d", false},
		{"a?c", 0, "abc", true},
		{"a?c", 0, "ac", false},
		{"https://*.example.com", '/', "https://a.example.com", true},
		{"https://*.example.com", '/', "https://example.com", false},
		{"https://*.example.com", '/', "https://a.example.com.evil.net", false},
		{"https://*", '/', "https://x.com", true},
		{"docs/*.txt", '/', "docs/a.txt", true},
		{"docs/*.txt", '/', "docs/a/b.txt", false},
		{"docs/**", '/', "docs", true},
		{"docs/**", '/', "docs/a/b/c", true},
		{"docs/**", '/', "docsx/a", false},
		{"**/*.md", '/', "a.md", true},
		{"**/*.md", '/', "a/b/c.md", true},
		{"a/**/b/**/c", '/', "a/b/c", true},
		{"a/**/b/**/c", '/', "a/x/y/b/z/c", true},
		{"a/**/b/**/c", '/', "a/x/y/z/c", false},
		{"/data/**", '/', "/data/x", true},
		{"/data/**", '/', "/database/x", false},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern, tt.sep)
		if err != nil {
			t.Fatalf("compileGlob(%q): %v", tt.pattern, err)
		}
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("%q (sep %q) match %q = %v, want %v", tt.pattern, tt.sep, tt.s, got, tt.want)
		}
	}
	for _, bad := range []string{"a[bc]", "{a,b}", `a\*`} {
		if _, err := compileGlob(bad, 0); err == nil {
			t.Errorf("compileGlob(%q) succeeded", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	c := []string{"allow-greet", "allow-read-file", "deny-read-file"}
	for in, want := range map[string]string{
		"allow-gret":     ` (did you mean "allow-greet"?)`,
		"deny-red-file":  ` (did you mean "deny-read-file"?)`,
		"allow-zzzzzzzz": "",
		"allow-greet":    "",
	} {
		if got := suggest(in, c); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsLocalOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"":                         true,
		"http://localhost":         true,
		"http://localhost:1420":    true,
		"https://LOCALHOST:1":      true,
		"http://tauri.localhost":   true,
		"tauri://localhost":        true,
		"http://127.0.0.1":         true,
		"http://127.1.2.3:80":      true,
		"http://[::1]:3000":        true,
		"http://[::1]":             true,
		"http://localhost.evil.io": false,
		"https://example.com":      false,
		"http://10.0.0.1":          false,
		"file://localhost":         false,
		"null":                     false,
		"http://localhost/x":       false,
		"http://user@localhost":    false,
	} {
		if got := isLocalOrigin(origin); got != want {
			t.Errorf("isLocalOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}
