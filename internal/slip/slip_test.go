package slip_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
	"github.com/gatehouse/gatehouse/slipverify"
)

// mint mints a slip the gateway redeems itself (a built-in or upstream
// tool's): MACed with the Minter's local key.
func mint(t *testing.T, f *fixture, tool, args string) (string, slipverify.Claims) {
	t.Helper()
	return mintFor(t, f, tool, args, "")
}

// mintFor mints a slip for redeemer to introspect (an HTTP API tool's),
// signed with the tenant's key, or, when redeemer is empty, a local one.
func mintFor(t *testing.T, f *fixture, tool, args, redeemer string) (string, slipverify.Claims) {
	t.Helper()
	canon, err := slipverify.Canonical([]byte(args))
	if err != nil {
		t.Fatal(err)
	}
	tok, c, err := f.m.Mint(slip.Request{Tool: tool, Args: canon, Subject: "alice", Actor: agent(), Redeemer: redeemer, Local: redeemer == "", Correlation: "corr-1"})
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

// header is the JOSE header of a compact JWS.
func header(tok string) map[string]string {
	h, _, _ := strings.Cut(tok, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr map[string]string
	json.Unmarshal(hb, &hdr)
	return hdr
}

func TestMintContract(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	f.m.TTL = 10 * time.Minute // capped at 60 s
	tok, c := mintFor(t, f, "sales_report", `{"region": "emea", "month": "2026-10"}`, "billing-api")

	// The header: EdDSA, the slip typ, a kid from the JWKS.
	if hdr := header(tok); hdr["alg"] != "EdDSA" || hdr["typ"] != slipverify.Type || hdr["kid"] == "" {
		t.Errorf("header = %v", hdr)
	}
	// The claims, read back from the token as any JWT library would.
	payload, err := f.keys.Verify(tok, slipverify.Type)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(payload, &got)
	want := map[string]any{
		"iss":   issuer,
		"sub":   "alice",
		"aud":   issuer + "/tools/sales_report",
		"act":   map[string]any{"sub": "acme-assistant", "client_id": "acme-assistant"},
		"scope": "tool:sales_report",
		"authorization_details": []any{map[string]any{
			"type":        "gatehouse_tool_call",
			"tool":        "sales_report",
			"args_sha256": slipverify.Digest([]byte(`{"month":"2026-10","region":"emea"}`)),
			"redeemer":    "billing-api",
		}},
		"jti": c.JTI,
		"iat": float64(c.IssuedAt),
		"exp": float64(c.IssuedAt + 60),
		"txn": "corr-1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	// Two slips for the same call are two slips.
	_, c2 := mint(t, f, "sales_report", `{"region": "emea", "month": "2026-10"}`)
	if c2.JTI == c.JTI {
		t.Error("jti repeated")
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	at, _ := accesstoken.Mint(f.keys, accesstoken.Claims{Issuer: issuer, Subject: "alice", Audience: accesstoken.Audience{issuer + "/tools/sales_report"}, JTI: "x", IssuedAt: f.now.Unix(), Expiry: f.now.Unix() + 60})
	// The Minter that made a slip knows it and skips the signature check;
	// another replica verifies a signed slip in full, and both must agree.
	// A local slip (no redeemer) is valid in its own process only.
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Now: f.m.Now}
	base := *f.now
	for _, redeemer := range []string{"", "billing-api"} {
		tok, _ := mintFor(t, f, "sales_report", `{"month":"2026-10"}`, redeemer)
		parts := strings.Split(tok, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]

		tests := []struct {
			name  string
			token string
			tool  string
			args  string
			shift time.Duration
			want  error
		}{
			{"ok", tok, "sales_report", `{"month":"2026-10"}`, 0, nil},
			{"same args, other spelling", tok, "sales_report", "{ \"month\" : \"2026-10\" }", 0, nil},
			{"other args", tok, "sales_report", `{"month":"2026-11"}`, 0, slipverify.ErrArguments},
			{"extra arg", tok, "sales_report", `{"month":"2026-10","region":"emea"}`, 0, slipverify.ErrArguments},
			{"duplicate key", tok, "sales_report", `{"month":"2026-10","month":"2026-10"}`, 0, slipverify.ErrArguments},
			{"other tool", tok, "payroll_report", `{"month":"2026-10"}`, 0, slipverify.ErrAudience},
			{"expired", tok, "sales_report", `{"month":"2026-10"}`, 40 * time.Second, slipverify.ErrExpired},
			{"access token", at, "sales_report", `{"month":"2026-10"}`, 0, slipverify.ErrInvalid},
			{"tampered", tampered, "sales_report", `{"month":"2026-10"}`, 0, slipverify.ErrInvalid},
			{"garbage", "a.b.c", "sales_report", `{}`, 0, slipverify.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("redeemer=%q/%s", redeemer, tt.name), func(t *testing.T) {
				*f.now = base.Add(tt.shift)
				defer func() { *f.now = base }()
				for name, m := range map[string]*slip.Minter{"minter": f.m, "other replica": other} {
					want := tt.want
					if name == "other replica" && redeemer == "" {
						want = slipverify.ErrInvalid
					}
					_, err := m.Verify(tt.token, tt.tool, []byte(tt.args))
					if !errors.Is(err, want) || (want == nil) != (err == nil) {
						t.Errorf("%s: Verify = %v, want %v", name, err, want)
					}
				}
			})
		}
	}
}

// TestLocalSlips: a slip the gateway redeems itself is MACed with a key
// of its process, not signed: no published key verifies it, another
// replica refuses it without spending it, and its claims cannot be
// changed. Its minter still checks it once it no longer remembers it.
func TestLocalSlips(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	ctx := context.Background()
	const args = `{"month":"2026-10"}`
	tok, _ := mint(t, f, "sales_report", args)
	if hdr := header(tok); hdr["alg"] != "HS256" || hdr["typ"] != slipverify.Type || hdr["kid"] == "" {
		t.Errorf("header = %v", hdr)
	}
	if _, err := f.keys.Verify(tok, slipverify.Type); err == nil {
		t.Error("the tenant's keys verified a local slip")
	}
	otherAudit := &memAudit{}
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Audit: otherAudit, Now: f.m.Now}
	if _, err := other.Redeem(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("another replica's Redeem = %v, want ErrInvalid", err)
	}
	// Introspection refuses a local slip anywhere, even here, where it is
	// valid, and records the attempt: such a slip has leaked. Here the
	// record has its claims; elsewhere (MAC unchecked) none.
	if resp, ok := other.Introspect(ctx, tok, "billing-api", true); !ok || resp["active"] != false {
		t.Errorf("another replica's introspection = %v, %v", resp, ok)
	}
	if resp, ok := f.m.Introspect(ctx, tok, "random-app", false); !ok || resp["active"] != false {
		t.Errorf("introspection here = %v, %v", resp, ok)
	}
	if got := otherAudit.types(); !slices.Equal(got, []string{"slip.replay_refused:local"}) || otherAudit.events[0].Actor != "" ||
		otherAudit.events[0].Detail["introspected_by"] != "billing-api" {
		t.Errorf("audit there: %v %+v", got, otherAudit.events)
	}
	if got := f.audit.types(); !slices.Equal(got, []string{"slip.replay_refused:local"}) || f.audit.events[0].Actor != "alice" ||
		f.audit.events[0].SlipID == "" || f.audit.events[0].Detail["introspected_by"] != "random-app" {
		t.Errorf("audit here: %v %+v", got, f.audit.events)
	}
	// Refused, not spent: the executor here redeems it once.
	if _, err := f.m.Redeem(ctx, tok, "sales_report", []byte(args)); err != nil {
		t.Fatalf("Redeem = %v", err)
	}
	// Forgotten once redeemed, it is checked by its MAC: still valid (the
	// store knows it is spent)...
	if _, err := f.m.Verify(tok, "sales_report", []byte(args)); err != nil {
		t.Errorf("Verify of a redeemed local slip = %v", err)
	}
	if _, err := f.m.Redeem(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("second Redeem = %v, want ErrUsed", err)
	}
	// ...and with its claims changed under the same MAC, invalid.
	p := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(p[1])
	forged := p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"alice"`, `"mallory"`, 1))) + "." + p[2]
	if _, err := f.m.Verify(forged, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("Verify of a forged local slip = %v, want ErrInvalid", err)
	}
	// Another process's local slip, here: invalid.
	tokOther, _, err := other.Mint(slip.Request{Tool: "sales_report", Args: []byte(args), Subject: "alice", Actor: agent(), Local: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(tokOther, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("Verify of another process's local slip = %v, want ErrInvalid", err)
	}
}

// queueAudit tells queued records from durable ones.
type queueAudit struct {
	memAudit
	queued []string
}

func (q *queueAudit) Enqueue(_ context.Context, e audit.Event) error {
	q.mu.Lock()
	q.queued = append(q.queued, e.Type)
	q.mu.Unlock()
	return q.Record(context.Background(), e)
}

// TestRedeemQueued: RedeemQueued spends the slip in the store like Redeem,
// queues slip.redeemed (the executor's later durable record covers it) and
// records a refused replay durably.
func TestRedeemQueued(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	q := &queueAudit{}
	f.m.Audit = q
	tok, _ := mint(t, f, "sales_report", `{"month":"2026-10"}`)
	ctx := context.Background()
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`)); !errors.Is(err, slipverify.ErrUsed) {
		t.Fatalf("second RedeemQueued = %v, want ErrUsed", err)
	}
	// Spent for every other way of asking; another replica does not
	// even take it (a local slip).
	if resp, _ := f.m.Introspect(ctx, tok, "billing-api", true); resp["active"] != false {
		t.Errorf("introspected active after RedeemQueued")
	}
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Now: f.m.Now}
	if _, err := other.Redeem(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`)); !errors.Is(err, slipverify.ErrInvalid) {
		t.Fatalf("Redeem on another replica = %v, want ErrInvalid", err)
	}
	if got, want := q.types(), []string{"slip.redeemed:ok", "slip.replay_refused:refused", "slip.replay_refused:local"}; !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	if !slices.Equal(q.queued, []string{"slip.redeemed"}) {
		t.Errorf("queued %v, want only slip.redeemed", q.queued)
	}
}

func TestRedeemOnce(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			tok, c := mint(t, f, "sales_report", `{"month":"2026-10"}`)
			ctx := context.Background()
			const n = 16
			if wins := race(t, n, func() error {
				_, err := f.m.Redeem(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`))
				return err
			}); wins != 1 {
				t.Fatalf("%d redemptions succeeded, want 1", wins)
			}
			evs := f.audit.events
			if len(evs) != n {
				t.Fatalf("%d audit events, want %d", len(evs), n)
			}
			redeemed := 0
			for _, e := range evs {
				if e.SlipID != c.JTI || e.Correlation != "corr-1" || e.Tool != "sales_report" || e.Agent != "acme-assistant" || e.Actor != "alice" {
					t.Errorf("event = %+v", e)
				}
				if e.Type == "slip.redeemed" {
					redeemed++
				}
			}
			if redeemed != 1 {
				t.Errorf("%d slip.redeemed events, want 1", redeemed)
			}
			// A slip that fails verification is not spent.
			tok2, _ := mint(t, f, "sales_report", `{"month":"2026-10"}`)
			if _, err := f.m.Redeem(ctx, tok2, "sales_report", []byte(`{"month":"2026-12"}`)); !errors.Is(err, slipverify.ErrArguments) {
				t.Fatalf("Redeem with other args = %v", err)
			}
			if _, err := f.m.Redeem(ctx, tok2, "sales_report", []byte(`{"month":"2026-10"}`)); err != nil {
				t.Fatalf("Redeem after a refused attempt = %v", err)
			}
		})
	}
}

func TestIntrospect(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	ctx := context.Background()
	at, _ := accesstoken.Mint(f.keys, accesstoken.Claims{Issuer: issuer, Subject: "alice", Audience: accesstoken.Audience{"x"}, JTI: "x", IssuedAt: f.now.Unix(), Expiry: f.now.Unix() + 60})
	if _, ok := f.m.Introspect(ctx, at, "billing-api", true); ok {
		t.Error("an access token was taken for a slip")
	}
	if _, ok := f.m.Introspect(ctx, "not a token", "billing-api", true); ok {
		t.Error("garbage was taken for a slip")
	}

	canon := []byte(`{"amount":12}`)
	tok, c, err := f.m.Mint(slip.Request{Tool: "refund", Args: canon, Subject: "alice", Actor: agent(), Redeemer: "billing-api", Correlation: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	// Another client may not redeem it, and its try does not spend it.
	if resp, ok := f.m.Introspect(ctx, tok, "someone-else", false); !ok || resp["active"] != false {
		t.Errorf("foreign client: %v %v", resp, ok)
	}
	resp, ok := f.m.Introspect(ctx, tok, "billing-api", true)
	if !ok || resp["active"] != true || resp["jti"] != c.JTI || resp["sub"] != "alice" || resp["client_id"] != "acme-assistant" || resp["scope"] != "tool:refund" {
		t.Fatalf("first introspection = %v, %v", resp, ok)
	}
	if resp, ok := f.m.Introspect(ctx, tok, "billing-api", true); !ok || resp["active"] != false || len(resp) != 1 {
		t.Errorf("second introspection = %v, %v", resp, ok)
	}
	// Expired: inactive, and never spent. The issuer's clock decides: a
	// second past exp is past it (the leeway is for tools' clocks).
	tok3, c3, _ := f.m.Mint(slip.Request{Tool: "refund", Args: canon, Subject: "alice", Actor: agent()})
	*f.now = time.Unix(c3.Expiry+1, 0)
	if resp, _ := f.m.Introspect(ctx, tok3, "billing-api", true); resp["active"] != false {
		t.Errorf("expired slip introspected active")
	}
	want := []string{"slip.replay_refused:wrong_client", "slip.redeemed:ok", "slip.replay_refused:refused", "slip.replay_refused:expired"}
	if diff := cmp.Diff(want, f.audit.types()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	for _, e := range f.audit.events {
		if strings.Contains(e.SlipID, ".") {
			t.Errorf("a token reached the audit trail: %+v", e)
		}
	}
}

func TestMintNeedsToolAndSubject(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	if _, _, err := f.m.Mint(slip.Request{Tool: "x"}); err == nil {
		t.Error("minted without a subject")
	}
	if _, _, err := f.m.Mint(slip.Request{Subject: "alice"}); err == nil {
		t.Error("minted without a tool")
	}
}

// TestSingleUseAcrossReplicas: a slip redeemed through one replica is spent
// for every other replica of the same tenant (one store), whichever way the
// second one is asked.
func TestSingleUseAcrossReplicas(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			// A second replica: its own Minter, the same store and keys.
			// The slip is one that travels (an API's, signed).
			other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Audit: &memAudit{}, Now: f.m.Now}
			tok, _ := mintFor(t, f, "sales_report", `{"month":"2026-10"}`, "billing-api")
			ctx := context.Background()
			if _, err := f.m.Redeem(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := other.Redeem(ctx, tok, "sales_report", []byte(`{"month":"2026-10"}`)); !errors.Is(err, slipverify.ErrUsed) {
				t.Errorf("second replica redeemed: %v", err)
			}
			if resp, _ := other.Introspect(ctx, tok, "billing-api", true); resp["active"] != false {
				t.Errorf("second replica introspected active")
			}
		})
	}
}

// IDs are unique, URL-safe, 22 characters, and sort in the order they
// were made from one millisecond to the next.
func TestIDsSortByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		id := slip.NewID()
		if len(id) != 22 || strings.Trim(id, "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("id %q is not 22 URL-safe characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if i%200 == 0 {
			time.Sleep(2 * time.Millisecond)
			if id <= prev {
				t.Fatalf("id %q made after %q sorts before it", id, prev)
			}
			prev = id
		}
	}
}

func TestIDsDoNotLookLikeFlags(t *testing.T) {
	for range 1000 {
		if id := slip.NewID(); strings.HasPrefix(id, "-") {
			t.Fatalf("id %q starts with -", id)
		}
	}
}
