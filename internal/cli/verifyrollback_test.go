package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyAttackRollbackCaughtByOffBoxCopy: records and the checkpoints that
// cover them are deleted and the head rewound (a consistent earlier
// state); `audit verify` alone says OK (inherent), with the off-box copy
// it names the cut.
func TestVerifyAttackRollbackCaughtByOffBoxCopy(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	cp := filepath.Join(t.TempDir(), "cps.jsonl")
	must(t, run(t, nil, "", append([]string{"audit", "checkpoints", "-o", cp}, d...)...))
	execSQL(t, data, "DELETE FROM audit_log WHERE seq > 2")
	execSQL(t, data, "DELETE FROM audit_checkpoints WHERE seq > 2")
	execSQL(t, data, "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)")
	if r := run(t, nil, "", append([]string{"audit", "verify"}, d...)...); r.code != 0 {
		t.Logf("without the copy: exit %d %s", r.code, r.stdout)
	}
	r := run(t, nil, "", append([]string{"audit", "verify", "--checkpoints", cp}, d...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "seq 3: truncated") {
		t.Errorf("with the copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("%s", r.stdout)
}

// TestCheckpointsExportKeepsTheOffBoxCopy: `audit checkpoints -o FILE` run
// again into the same file, after an attacker deleted records and the
// checkpoints that covered them, keeps the checkpoints the file held: the
// off-box copy still shows the cut.
func TestCheckpointsExportKeepsTheOffBoxCopy(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	must(t, run(t, nil, "", append([]string{"role", "add", "auditors"}, d...)...))
	must(t, run(t, nil, "", append([]string{"role", "add", "reviewers"}, d...)...))
	cp := filepath.Join(t.TempDir(), "cps.jsonl")
	must(t, run(t, nil, "", append([]string{"audit", "checkpoints", "-o", cp}, d...)...))
	// Cut back to the end of the first signed batch, so that the trail
	// still takes a checkpoint of its (rewound) head.
	const end = "(SELECT min(seq) FROM audit_log WHERE sig <> '')"
	execSQL(t, data, "DELETE FROM audit_checkpoints WHERE seq > "+end)
	execSQL(t, data, "DELETE FROM audit_log WHERE seq > "+end)
	execSQL(t, data, "UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_log), hash = (SELECT hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log))")
	// The scheduled export runs again, into the same file.
	must(t, run(t, nil, "", append([]string{"audit", "checkpoints", "-o", cp}, d...)...))
	r := run(t, nil, "", append([]string{"audit", "verify", "--checkpoints", cp}, d...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "truncated") {
		t.Errorf("with the copy exported again after the cut: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckpointsExportedWhenNoNewOneCanBeSigned: when the trail's head
// cannot be vouched for (a record appended behind the writers' backs, no
// writer's signature on it), `audit checkpoints` signs no new checkpoint
// and says so (exit 1), but still copies the checkpoints stored before
// it: the scheduled off-box copy goes on holding what verify needs to
// show the tampering. Before, it copied nothing.
func TestCheckpointsExportedWhenNoNewOneCanBeSigned(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	must(t, run(t, nil, "", append([]string{"audit", "checkpoints", "-o", filepath.Join(t.TempDir(), "first.jsonl")}, d...)...))
	execSQL(t, data, plantNext)
	execSQL(t, data, "UPDATE audit_head SET seq = seq + 1, hash = (SELECT hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log))")
	cp := filepath.Join(t.TempDir(), "cps.jsonl")
	r := run(t, nil, "", append([]string{"audit", "checkpoints", "-o", cp}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "no new checkpoint") {
		t.Errorf("a head no writer signed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	copied, err := os.ReadFile(cp)
	if err != nil || !strings.Contains(string(copied), `"jws"`) {
		t.Fatalf("the stored checkpoints were not copied: %v %q", err, copied)
	}
}
