package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// crashURLEnv is the webhook a crash child in mode "stream" sends to.
const crashURLEnv = "GATEHOUSE_AUDIT_CRASH_WEBHOOK"

var crashSecret = []byte("crash webhook secret")

// crashStreamOpts is how both the child and the parent stream: two
// records a delivery, and a short claim, so that the parent takes the
// stream over soon after the child is killed.
var crashStreamOpts = audit.StreamOptions{Batch: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	Lease: time.Second, FromStart: true}

// streamChild, in a crash child, streams the trail to the webhook at
// crashURLEnv until it is killed.
func streamChild(l *audit.Log) {
	wh, err := audit.NewWebhook("crash", os.Getenv(crashURLEnv), crashSecret, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l.Stream([]audit.Sink{wh}, &crashStreamOpts)
	fmt.Println("ready")
	time.Sleep(time.Minute) // the parent kills us long before
	os.Exit(4)
}

// TestStreamKilledBeforeAnswerResends kills (SIGKILL) a process that
// streams to a webhook while a delivery is in flight, unanswered: the
// receiver has taken records 1-2 (answered) and has 3-4 in hand. The next
// sender of the stream resends from 3: what was answered is not sent
// again, and what was sent but not answered is, on every backend.
func TestStreamKilledBeforeAnswerResends(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for name, fresh := range crashStores(t) {
		t.Run(name, func(t *testing.T) {
			cs := fresh(t)
			cs.prepare(t)
			ctx := context.Background()
			st, err := openCrashStore(ctx, cs.dir, cs.db)
			if err != nil {
				t.Fatal(err)
			}
			km, err := openKeys(st, cs.dir)
			if err != nil {
				t.Fatal(err)
			}
			l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
			for _, ev := range events(5) {
				if err := l.Record(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			st.Close()

			// The receiver: verifies, answers the first delivery, and
			// holds the second unanswered until the end of the test.
			got := make(chan []int64, 10)
			hold := make(chan struct{})
			answered := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !audit.VerifyWebhook(crashSecret, r.Header.Get(audit.WebhookTimestampHeader), r.Header.Get(audit.WebhookSignatureHeader), body) {
					t.Errorf("bad signature")
					http.Error(w, "bad signature", http.StatusUnauthorized)
					return
				}
				var wb audit.WebhookBody
				if err := json.Unmarshal(body, &wb); err != nil {
					t.Errorf("body: %v", err)
					return
				}
				var seqs []int64
				for _, e := range wb.Records {
					seqs = append(seqs, e.Seq)
				}
				got <- seqs
				if answered++; answered == 2 {
					<-hold // in flight when the child is killed
				}
			}))
			defer srv.Close()
			defer close(hold) // before srv.Close, which waits for the handler

			t.Setenv(crashURLEnv, srv.URL)
			child := cs.start(t, "s", "stream")
			want := [][]int64{{1, 2}, {3, 4}}
			for i := range want {
				select {
				case seqs := <-got:
					if fmt.Sprint(seqs) != fmt.Sprint(want[i]) {
						t.Fatalf("child's delivery %d: %v, want %v", i+1, seqs, want[i])
					}
				case <-time.After(time.Minute):
					t.Fatalf("the child's delivery %d did not come", i+1)
				}
			}
			child.kill(t, func(string) {})

			// The next sender (this process) goes on from the stored
			// position.
			st, err = openCrashStore(ctx, cs.dir, cs.db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			km, err = openKeys(st, cs.dir)
			if err != nil {
				t.Fatal(err)
			}
			l = audit.New(st, km, &audit.Options{CheckpointInterval: -1})
			defer l.Close()
			h, srv2 := newHook(t, 0)
			h.secret = crashSecret
			wh, err := audit.NewWebhook("crash", srv2.URL, crashSecret, nil)
			if err != nil {
				t.Fatal(err)
			}
			ss := l.Stream([]audit.Sink{wh}, &crashStreamOpts)
			defer ss.Close()
			deadline := time.Now().Add(time.Minute)
			for ss.Stats()[0].Cursor != 5 {
				if time.Now().After(deadline) {
					t.Fatalf("after the kill, the stream stands at %+v", ss.Stats()[0])
				}
				time.Sleep(5 * time.Millisecond)
			}
			var after []int64
			for len(h.got) > 0 {
				after = append(after, <-h.got)
			}
			if fmt.Sprint(after) != "[3 4 5]" {
				t.Errorf("after the kill, delivered %v; want [3 4 5] (3-4 were in flight, unanswered)", after)
			}
		})
	}
}
