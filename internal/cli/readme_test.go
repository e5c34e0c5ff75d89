package cli_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadmeTenantExampleApplies: the example tenant file of README.md
// ("## The tenant file", its first yaml block), pasted as an operator
// would, applies.
func TestReadmeTenantExampleApplies(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## The tenant file")
	if !ok {
		t.Fatal("README.md has no section on the tenant file")
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if !ok {
		t.Fatal("the section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	f := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(f, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if r := run(t, nil, "", "apply", "-f", f, "--data", data); r.code != 0 {
		t.Fatalf("README.md's example tenant file is refused (exit %d):\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "", "tool", "list", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "refund") || !strings.Contains(r.stdout, "sales_report") {
		t.Errorf("the example's tools after apply (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestReadmeCommandsAndFlagsExist: every command README.md shows
// (`gatehouse user add …`, a table row's `keys list\|rotate [--now]`, a
// paragraph's `serve --audit-webhook URL`) exists, and every flag it names
// is one that command takes: an operator who copies one gets the command
// the README describes, not "unknown command" or "flag provided but not
// defined".
func TestReadmeCommandsAndFlagsExist(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var snippets []string
	// Fenced blocks: each line of a shell block is a command line.
	parts := strings.Split(string(b), "```")
	var prose strings.Builder
	for i, p := range parts {
		if i%2 == 0 {
			prose.WriteString(p)
			continue
		}
		if lang, body, _ := strings.Cut(p, "\n"); lang == "sh" {
			for _, l := range strings.Split(body, "\n") {
				l, _, _ = strings.Cut(l, "#")
				snippets = append(snippets, l)
			}
		}
	}
	// Inline code, which a line break may split.
	spans := strings.Split(strings.ReplaceAll(prose.String(), "\n", " "), "`")
	for i := 1; i < len(spans); i += 2 {
		snippets = append(snippets, spans[i])
	}

	top := []string{"demo", "serve", "apply", "version", "keys", "audit", "user", "role", "client", "tool", "upstream"}
	help := map[string]string{} // command path → its help
	helpOf := func(path []string) (string, bool) {
		k := strings.Join(path, " ")
		if h, ok := help[k]; ok {
			return h, h != ""
		}
		r := run(t, nil, "", append(slices.Clone(path), "--help")...)
		h := r.stderr + r.stdout
		if r.code != 0 || strings.Contains(h, "unknown command") {
			h = ""
		}
		help[k] = h
		return h, h != ""
	}
	takes := func(h, flag string) bool {
		return strings.Contains(h, "\n  -"+flag+" ") || strings.Contains(h, "\n  -"+flag+"\n") || strings.Contains(h, "\n  -"+flag+"\t")
	}
	var bare []string // flags named without their command
	checked := 0
	for _, s := range snippets {
		words := strings.Fields(s)
		prefixed := len(words) > 0 && words[0] == "gatehouse"
		if prefixed {
			words = words[1:]
		} else if len(words) == 0 || !slices.Contains(top, strings.Split(words[0], `\|`)[0]) {
			// `--data DIR`, `--prune`: a flag of some command.
			if len(words) > 0 {
				if f, ok := readmeFlag(words[0]); ok {
					bare = append(bare, f)
				}
			}
			continue
		}
		// The command: up to two words of lower-case names, each maybe
		// alternatives (list\|add\|remove).
		var alts [][]string
		for len(words) > 0 && len(alts) < 2 && isCommandWord(words[0]) {
			alts = append(alts, strings.Split(words[0], `\|`))
			words = words[1:]
		}
		if len(alts) == 0 {
			continue
		}
		paths := [][]string{{}}
		for _, a := range alts {
			var next [][]string
			for _, p := range paths {
				for _, w := range a {
					next = append(next, append(slices.Clone(p), w))
				}
			}
			paths = next
		}
		var helps []string
		for _, p := range paths {
			h, ok := helpOf(p)
			if !ok && !prefixed {
				continue // prose that starts with a command's name (`audit retention not applied`)
			}
			if !ok {
				t.Errorf("README.md shows `%s`: gatehouse has no command %q", strings.TrimSpace(s), strings.Join(p, " "))
				continue
			}
			helps = append(helps, h)
			checked++
		}
		// A flag after alternatives belongs to one of them at least
		// (keys list\|rotate [--now]).
		for _, w := range words {
			f, ok := readmeFlag(w)
			if !ok || f == "help" {
				continue
			}
			if !slices.ContainsFunc(helps, func(h string) bool { return takes(h, f) }) {
				t.Errorf("README.md shows `%s`: no such command takes --%s", strings.TrimSpace(s), f)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d commands found in README.md: the test no longer reads it", checked)
	}
	for _, f := range bare {
		if f == "help" {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(help)), func(h string) bool { return takes(h, f) }) {
			t.Errorf("README.md names --%s, which no command it shows takes", f)
		}
	}
}

// isCommandWord: a command's name, or names separated by \| (list\|add).
func isCommandWord(w string) bool {
	for _, a := range strings.Split(w, `\|`) {
		if a == "" || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	return true
}

// readmeFlag is the flag w names (--dry-run, [--prune], --since=24h).
func readmeFlag(w string) (string, bool) {
	w = strings.Trim(w, "[](),.;:")
	if !strings.HasPrefix(w, "--") || len(w) < 3 {
		return "", false
	}
	f, _, _ := strings.Cut(w[2:], "=")
	return f, strings.Trim(f, "abcdefghijklmnopqrstuvwxyz-") == ""
}

// TestKeysRotateHelpSaysWhenOldKeysLeave: `keys rotate --help` tells how
// long the old keys stay in the JWKS as README.md and the command itself
// ("stay in the JWKS for 24 hours after") do, not "until their tokens
// expire", which an operator reads as the 14 days of a refresh token.
func TestKeysRotateHelpSaysWhenOldKeysLeave(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "old keys stay published for 24 h after they stop signing") {
		t.Fatal("README.md no longer says how long the old keys stay published: update this test")
	}
	for _, args := range [][]string{{"keys", "--help"}, {"keys", "rotate", "--help"}} {
		r := run(t, nil, "", args...)
		if h := r.stderr + r.stdout; !strings.Contains(h, "published for 24 hours after they stop signing") {
			t.Errorf("gatehouse %s does not say the old keys stay published for 24 hours after they stop signing:\n%s", strings.Join(args, " "), h)
		}
	}
}

// TestReadmeConnectionExampleApplies: the federation example of README.md
// (its second yaml block, a connection), added to the tenant example as an
// operator would add it, applies, and the connection is there.
func TestReadmeConnectionExampleApplies(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for i, p := range strings.Split(string(b), "```") {
		if body, ok := strings.CutPrefix(p, "yaml\n"); ok && i%2 == 1 {
			blocks = append(blocks, body)
		}
	}
	if len(blocks) < 2 || !strings.Contains(blocks[1], "connections:") {
		t.Fatalf("README.md's yaml blocks are no longer the tenant file and a connection: %d blocks", len(blocks))
	}
	f := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(f, []byte(blocks[0]+blocks[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "", "apply", "-f", f, "--data", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, "+ connection corp") {
		t.Fatalf("README.md's connection example, with its tenant file, (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}
