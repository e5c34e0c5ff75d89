package admin_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// page asks one page of the audit API and decodes it.
func (ta *testAPI) page(t *testing.T, tok string, q url.Values) (seqs []int64, next string) {
	t.Helper()
	status, body := ta.get(t, "/admin/api/audit?"+q.Encode(), tok)
	if status != 200 {
		t.Fatalf("GET ?%s: %d %s", q.Encode(), status, body)
	}
	var p struct {
		Entries []audit.Entry `json:"entries"`
		Next    string        `json:"next"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &p); err != nil {
		t.Fatalf("GET ?%s: %v: %s", q.Encode(), err, body)
	}
	for _, e := range p.Entries {
		seqs = append(seqs, e.Seq)
	}
	return seqs, p.Next
}

// Paging through the whole trail a record at a time ends. Every page is
// itself recorded (audit.read), one record a page: a paging bounded by
// nothing would be handed the previous page's read each time and never
// reach its end. It reads the trail as it stood at its first page, that
// page's own read included, in order, each record once; the reads of the
// later pages are there for the next paging.
func TestPagingTheWholeTrailEnds(t *testing.T) {
	ta, root := startAPI(t)
	ctx := t.Context()
	trail := ta.api.Audit
	for _, who := range []string{"alice", "bob", "carol"} {
		if err := trail.Record(ctx, audit.Event{Type: audit.LoginSucceeded, Actor: who}); err != nil {
			t.Fatal(err)
		}
	}
	head, _, err := trail.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var paged []int64
	after := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("still paging after %d pages (saw %v, next %q)", pages, paged, after)
		}
		q := url.Values{"limit": {"1"}}
		if after != "" {
			q.Set("after", after)
		}
		seqs, next := ta.page(t, root, q)
		paged = append(paged, seqs...)
		if next == "" {
			break
		}
		after = next
	}
	// The first page's read is head+1: the trail as it stood then.
	if len(paged) != int(head)+1 {
		t.Fatalf("paging saw %v, want seq 1 to %d", paged, head+1)
	}
	for i, s := range paged {
		if s != int64(i+1) {
			t.Fatalf("paging saw %v, want seq 1 to %d in order", paged, head+1)
		}
	}
	// Every page was recorded all the same.
	reads, _ := ta.page(t, root, url.Values{"type": {audit.AuditRead}, "limit": {"1000"}})
	if len(reads) < len(paged) {
		t.Errorf("%d audit.read records for %d pages", len(reads), len(paged))
	}

	// A bare seq still starts a paging there, and a page that is not
	// full is the last.
	seqs, next := ta.page(t, root, url.Values{"after": {"2"}, "limit": {"1000"}})
	if len(seqs) == 0 || seqs[0] != 3 || next != "" {
		t.Errorf("after=2: %v, next %q", seqs, next)
	}
	// A page that ends on its bound is the last, though full.
	_, next = ta.page(t, root, url.Values{"after": {"1:3"}, "limit": {"2"}})
	if next != "" {
		t.Errorf("after=1:3 limit=2 has a next: %q", next)
	}

	// A bound forged past the trail's head is this read's own record: the
	// paging still ends (MaxInt64 + 1 would wrap and bound nothing).
	after = "0:9223372036854775807"
	for pages := 0; after != ""; pages++ {
		if pages > 100 {
			t.Fatalf("a forged bound: still paging after %d pages", pages)
		}
		_, after = ta.page(t, root, url.Values{"after": {after}, "limit": {"1"}})
	}

	// A cursor that no page made is refused, the clock a page's cursor
	// carries (SEQ:UPTO:CLOCK) included.
	for _, bad := range []string{"1:", "1:0", "1:-4", ":3", "x:3",
		"1:2:", "1:2:0", "1:2:-5", "1:2:x", "1:0:5", ":2:5", "1:2:3:4", "1:2:1e6"} {
		status, body := ta.get(t, "/admin/api/audit?after="+url.QueryEscape(bad), root)
		if status != 400 || !strings.Contains(body, "previous page's next") {
			t.Errorf("after=%s: %d %s", bad, status, body)
		}
	}
}

// TestPagingARelativeWindowKeepsItsRecords: a paging with since=1h reads
// the records of the hour before its first page, as it stood then.
func TestPagingARelativeWindowKeepsItsRecords(t *testing.T) {
	ta, _ := startAPI(t)
	ctx := t.Context()
	root, err := accesstoken.Mint(ta.keys, accesstoken.Claims{Issuer: issuer, Subject: "root", ClientID: "admin-script",
		GrantID: "grant-1", Audience: accesstoken.Audience{ta.api.Resource()}, JTI: "jti-day",
		IssuedAt: time.Now().Unix(), Expiry: time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for _, who := range []string{"alice", "bob", "carol"} {
		if err := ta.api.Audit.Record(ctx, audit.Event{Type: audit.LoginSucceeded, Actor: who}); err != nil {
			t.Fatal(err)
		}
	}
	var now atomic.Int64
	now.Store(t0.Add(59 * time.Minute).UnixNano())
	ta.api.Now = func() time.Time { return time.Unix(0, now.Load()) }
	var seen []int64
	after := ""
	for pages := 0; pages < 20; pages++ {
		q := url.Values{"since": {"1h"}, "type": {audit.LoginSucceeded}, "limit": {"1"}}
		if after != "" {
			q.Set("after", after)
		}
		seqs, next := ta.page(t, root, q)
		seen = append(seen, seqs...)
		if next == "" {
			break
		}
		after = next
		now.Add(int64(2 * time.Minute))
	}
	if len(seen) != 3 {
		t.Errorf("paging since=1h saw the sign-ins %v, want all 3 that were in the window at its first page", seen)
	}
}
