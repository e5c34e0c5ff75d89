package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientDisable: an agent is disabled and enabled again like a user
// would be, each change an admin.change with before and after.
func TestClientDisable(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
	c("apply", "-f", testdata+"acme.yaml")
	c("client", "disable", "acme-assistant")
	if cl := c("client", "list").stdout; !strings.Contains(cl, "disabled") {
		t.Errorf("client list does not show the disabled agent:\n%s", cl)
	}
	type change struct {
		Event struct {
			Detail struct {
				Op, Kind, Name string
				Before, After  map[string]any
			}
		}
	}
	last := func() change {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(c("audit", "export", "--type", "admin.change").stdout), "\n")
		var ch change
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ch); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	ch := last().Event.Detail
	if ch.Op != "~" || ch.Kind != "client" || ch.Name != "acme-assistant" || ch.Before["disabled"] != nil || ch.After["disabled"] != true {
		t.Errorf("disable audited as %+v", ch)
	}
	c("client", "enable", "acme-assistant")
	ch = last().Event.Detail
	if ch.Name != "acme-assistant" || ch.Before["disabled"] != true || ch.After["disabled"] != nil {
		t.Errorf("enable audited as %+v", ch)
	}
	if cl := c("client", "list").stdout; strings.Contains(cl, "disabled") {
		t.Errorf("client list still shows a disabled client:\n%s", cl)
	}
	if r := run(t, nil, "", append([]string{"client", "disable", "nobody"}, d...)...); r.code == 0 {
		t.Errorf("disabling an unknown client succeeded")
	}
}
