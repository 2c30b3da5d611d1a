package tsgen_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The TypeScript compiler: $TETHER_TSC, else js/node_modules/.bin/tsc (make
// test installs it and sets TETHER_TSC). Without either the tests that run
// it skip; with TETHER_TSC set, a missing compiler fails them.
func tscPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TETHER_TSC"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TETHER_TSC=%s: %v", p, err)
		}
		return p
	}
	p, err := filepath.Abs("../../js/node_modules/.bin/tsc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skip("no TypeScript compiler: run `cd js && npm ci` or set TETHER_TSC")
	}
	return p
}

var (
	clientTypesOnce sync.Once
	clientTypesDir  string
	clientTypesErr  error
)

// clientTypes emits the declarations of Tether's JS client (js/src) once,
// so that the checks below see /ipc/client.js as an app would (a .d.ts,
// under skipLibCheck) rather than compiling js/src under their flags.
func clientTypes(t *testing.T, tsc string) string {
	t.Helper()
	clientTypesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-client-types-")
		if err != nil {
			clientTypesErr = err
			return
		}
		clientTypesDir = dir
		js, _ := filepath.Abs("../../js")
		out, err := exec.Command(tsc, "-p", js, "--noEmit", "false", "--declaration", "--emitDeclarationOnly",
			"--rootDir", filepath.Join(js, "src"), "--outDir", dir, "--pretty", "false").CombinedOutput()
		if err != nil {
			clientTypesErr = fmt.Errorf("emitting the client's declarations: %v\n%s", err, out)
		}
	})
	if clientTypesErr != nil {
		t.Fatal(clientTypesErr)
	}
	return filepath.Join(clientTypesDir, "client.d.ts")
}

// strictOptions are the compiler options the generated files must pass: the
// strictest an app is likely to use.
var strictOptions = map[string]any{
	"strict": true, "noEmit": true, "target": "es2022", "module": "esnext", "moduleResolution": "bundler",
	"lib": []string{"es2022", "dom", "dom.iterable"}, "types": []string{}, "isolatedModules": true,
	"verbatimModuleSyntax": true, "noUnusedLocals": true, "noUnusedParameters": true,
	"exactOptionalPropertyTypes": true, "noImplicitOverride": true, "noUncheckedIndexedAccess": true,
	"noPropertyAccessFromIndexSignature": true, "erasableSyntaxOnly": true, "skipLibCheck": true,
}

var tscError = regexp.MustCompile(`^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$`)

// typecheck writes files (name → source) into a fresh folder and runs tsc on
// them with strictOptions, /ipc/client.js resolving to the client's types
// and @tauri-apps/api to js/node_modules. It returns the errors by file name,
// each as "line: TSnnnn: message".
func typecheck(t *testing.T, files map[string]string) map[string][]string {
	t.Helper()
	tsc := tscPath(t)
	client := clientTypes(t, tsc)
	dir := t.TempDir()
	tauri, _ := filepath.Abs("../../js/node_modules/@tauri-apps/api")
	opts := map[string]any{}
	for k, v := range strictOptions {
		opts[k] = v
	}
	opts["paths"] = map[string][]string{
		"/ipc/client.js":    {client},
		"@tauri-apps/api/*": {tauri + "/*"},
	}
	var names []string
	for name, src := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	cfg, _ := json.Marshal(map[string]any{"compilerOptions": opts, "files": names})
	if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tsc, "-p", dir, "--pretty", "false")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	errs := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, " ") {
			continue // the rest of the error above
		}
		if m := tscError.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			errs[filepath.ToSlash(m[1])] = append(errs[filepath.ToSlash(m[1])], m[2]+": "+m[4]+": "+m[5])
		} else if strings.TrimSpace(line) != "" {
			errs[""] = append(errs[""], line)
		}
	}
	if err != nil && len(errs) == 0 {
		t.Fatalf("tsc failed without errors it reports: %v\n%s", err, out)
	}
	return errs
}

// wantErrors checks that each file in bad has an error with one of the
// given codes ("TS2353|TS2561") on a line containing "// error", and that no
// other file has any.
func wantErrors(t *testing.T, files map[string]string, errs map[string][]string, bad map[string]string) {
	t.Helper()
	for name := range files {
		code, isBad := bad[name]
		got := errs[name]
		if !isBad {
			if len(got) > 0 {
				t.Errorf("%s should typecheck:\n  %s\n--- %s\n%s", name, strings.Join(got, "\n  "), name, numbered(files[name]))
			}
			continue
		}
		lines := strings.Split(files[name], "\n")
		found := false
		for _, e := range got {
			var line int
			if _, err := fmt.Sscanf(e, "%d:", &line); err == nil && line >= 1 && line <= len(lines) &&
				strings.Contains(lines[line-1], "// error") {
				for _, c := range strings.Split(code, "|") {
					found = found || strings.Contains(e, ": "+c+": ")
				}
			}
		}
		if !found {
			t.Errorf("%s should fail with %s on its // error line; tsc said: %v\n%s", name, code, got, numbered(files[name]))
		}
	}
	if len(errs[""]) > 0 {
		t.Errorf("tsc: %s", strings.Join(errs[""], "\n"))
	}
	for name, e := range errs {
		if _, ok := files[name]; !ok && name != "" {
			t.Errorf("errors in %s: %v", name, e)
		}
	}
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
