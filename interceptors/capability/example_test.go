package capability_test

import (
	"fmt"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

func ExampleSet_Check() {
	set, err := capability.Parse(map[string][]byte{
		"capabilities/main.json": []byte(`{
			"identifier": "main",
			"windows": ["main"],
			"permissions": [
				"allow-greet",
				{ "identifier": "allow-read-file", "allow": [{ "path": "docs/*.txt" }] },
				{ "identifier": "allow-emit", "allow": [{ "event": "frontend-event" }] }
			]
		}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The server validates the permissions against its commands at start.
	if err := set.Validate([]string{"greet", "read_file", "fail"}); err != nil {
		fmt.Println(err)
		return
	}

	calls := []*tether.Call{
		{Kind: tether.KindInvoke, Name: "greet", ClientLabel: "main"},
		{Kind: tether.KindInvoke, Name: "read_file", ClientLabel: "main"},
		{Kind: tether.KindInvoke, Name: "fail", ClientLabel: "main"},
		{Kind: tether.KindInvoke, Name: "greet", ClientLabel: "settings"},
		{Kind: tether.KindEmit, Name: "frontend-event", ClientLabel: "main"},
	}
	for _, c := range calls {
		d, err := set.Check(c)
		switch {
		case err != nil:
			fmt.Println(err)
		case d.Scopes != nil:
			fmt.Printf("%s %q: allowed by %s, scopes %v\n", c.Kind, c.Name, d.Permission, d.Scopes.Allow)
		default:
			fmt.Printf("%s %q: allowed by %s\n", c.Kind, c.Name, d.Permission)
		}
	}
	// Output:
	// invoke "greet": allowed by allow-greet
	// invoke "read_file": allowed by allow-read-file, scopes [map[path:docs/*.txt]]
	// permission_denied: command "fail" not allowed for client "main"
	// permission_denied: command "greet" not allowed for client "settings"
	// emit "frontend-event": allowed by allow-emit
}

func ExampleSet_Validate() {
	set, _ := capability.ParseFile("capabilities/main.json", []byte(`{
		"identifier": "main", "windows": ["main"], "permissions": ["allow-greet", "allow-gret"]
	}`))
	fmt.Println(set.Validate([]string{"greet", "read_file"}))
	// Output:
	// capabilities/main.json: permissions[1]: unknown permission "allow-gret" (did you mean "allow-greet"?)
}
