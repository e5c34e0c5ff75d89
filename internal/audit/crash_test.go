package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// crashDirEnv makes the test binary a crash child recording into the store
// in that folder.
const crashDirEnv = "GATEHOUSE_AUDIT_CRASH_DIR"

// crashChild, in the child process, records events from many goroutines
// and prints "ack SEQ CORRELATION" for each acknowledged one, until it is
// killed (or gives up after a minute). It reports false in the parent.
func crashChild() bool {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return false
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	km, err := openKeys(st, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	var mu sync.Mutex
	out := os.Stdout
	fmt.Fprintln(out, "ready")
	for w := range 32 {
		go func() {
			for i := 0; ; i++ {
				corr := fmt.Sprintf("w%d-%d", w, i)
				seq, err := l.Append(ctx, audit.Event{Type: audit.ToolResult, Actor: "alice", Tool: "sales_report", Correlation: corr, Status: "ok"})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				// One write per line: what the parent reads was acknowledged.
				fmt.Fprintf(out, "ack %d %s\n", seq, corr)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	os.Exit(4)
	return true
}

// TestCrashKeepsAcknowledged kills (SIGKILL) a process recording under load
// and checks that every record it acknowledged is in the store afterwards
// and that the chain verifies.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]string{}
	sc := bufio.NewScanner(stdout)
	const killAfter = 3000
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ack" {
			t.Fatalf("child said %q", line)
		}
		seq, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		acked[seq] = f[2]
		if len(acked) >= killAfter && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acks without being killed", len(acked))
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km, err := openKeys(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	rep, err := l.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("Verify after kill: %v %+v", err, rep.Problems)
	}
	found := map[int64]string{}
	for f := (audit.Filter{Limit: 1000}); ; {
		p, err := l.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			found[e.Seq] = e.Event.Correlation
		}
		if p.Next == 0 {
			break
		}
		f.After = p.Next
	}
	missing := 0
	for seq, corr := range acked {
		if found[seq] != corr {
			missing++
			if missing < 10 {
				t.Errorf("acknowledged record %d (%s) is %q after the kill", seq, corr, found[seq])
			}
		}
	}
	t.Logf("%d acknowledged, %d in the log after SIGKILL, %d missing", len(acked), rep.Records, missing)
}
