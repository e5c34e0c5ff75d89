package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestListsEscapeStoredNames: 'user list' and 'client list' print names
// that reach the store from outside the tenant's admins (a federated
// sign-in's username and email, a client ID metadata document's URL). A
// terminal escape, a bidirectional override or a character drawn as
// nothing is shown escaped, as 'audit tail' shows it, never written to the
// admin's terminal as it is.
func TestListsEscapeStoredNames(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"role", "add", "x"}, d...)...)) // creates the store
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.StoreOptions{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	// What a federated sign-in stores for a username claim of
	// "\x1b[2J\x1b[Hmallory".
	evil := "corp:\x1b[2J\x1b[Hmallory"
	if err := st.Users().Create(ctx, store.User{Username: evil, Email: "m@x.example\x1b]0;pwned\x07",
		Attributes: map[string]string{"idp": "corp", "idp_sub": "1"}}); err != nil {
		t.Fatal(err)
	}
	// Client ID metadata document URLs: a right-to-left override, C1 CSI,
	// a Hangul filler (drawn as a blank).
	for _, id := range []string{"https://evil.example/\u202egpj.tneilc", "https://evil.example/\u009b2J\u009bHx", "https://evil.example/a\u3164b"} {
		if err := st.Clients().Create(ctx, store.Client{ClientID: id, Kind: store.KindAgent, Source: store.SourceMetadata}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for _, cmd := range [][]string{{"user", "list"}, {"client", "list"}} {
		out := must(t, run(t, nil, "", append(cmd, d...)...)).stdout
		if i := strings.IndexAny(out, "\x1b\x07\u202e\u009b\u3164"); i >= 0 {
			t.Errorf("%s writes a raw control, format or blank character to the terminal: %q", strings.Join(cmd, " "), out)
		}
		if cmd[0] == "client" && !strings.Contains(out, `"https://evil.example/\u202egpj.tneilc"`) {
			t.Errorf("client list does not show the override escaped:\n%s", out)
		}
	}
}

// TestRoleRemoveEscapesStoredNames: 'role remove' says whom it took the
// role from, by the names in the store, as 'user list' shows them: a
// terminal escape in a username is shown escaped, not written to the
// admin's terminal.
func TestRoleRemoveEscapesStoredNames(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"role", "add", "x"}, d...)...))
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.StoreOptions{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Users().Create(ctx, store.User{Username: "corp:\x1b[2J\x1b[Hmallory\u202e", Roles: []string{"x"},
		Attributes: map[string]string{"idp": "corp", "idp_sub": "1"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out := must(t, run(t, nil, "", append([]string{"role", "remove", "x"}, d...)...)).stdout
	if strings.ContainsAny(out, "\x1b\u202e") {
		t.Errorf("role remove writes a raw control or format character to the terminal: %q", out)
	}
	if !strings.Contains(out, `\x1b[2J\x1b[Hmallory\u202e"`) {
		t.Errorf("role remove does not name the user escaped: %q", out)
	}
}
