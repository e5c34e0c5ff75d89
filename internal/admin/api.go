// Package admin serves the admin JSON API under /admin/api (and, once it
// exists, the dashboard under /admin).
//
// The API is an OAuth protected resource like /mcp: a caller presents an
// access token whose audience is the API (RFC 8707 resource
// <issuer>/admin/api), issued to a person who holds the tenant's built-in
// admin role; RFC 9728 metadata tells clients where to get one. There is
// no other way in: no API key, no session shortcut. Reading the audit
// trail is itself an action the trail records, before the answer goes out.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Role is the built-in role whose members may use the API.
const Role = store.AdminRole

// Path is where the API is mounted under the issuer.
const Path = "/admin/api"

// Store is what the API needs of the store: users, for the admin role.
type Store interface {
	Users() store.Collection[store.User]
}

// API is the admin JSON API. Set the fields, then Mount it.
type API struct {
	// Issuer is the tenant's issuer; the API's resource URI is
	// Issuer + Path.
	Issuer string
	Keys   *keys.Manager
	Store  Store
	// Audit is the trail the API reads, and records its reads in.
	Audit *audit.Log
	// Streams reports the counters of the trail's streams (webhook,
	// syslog); nil, or a nil answer, when none is configured.
	Streams func() []audit.SinkStats
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Standing reports whether a verified token's claims still stand
	// (not revoked; its client and person neither removed, disabled nor
	// created after it), with errors that wrap accesstoken.ErrInvalid;
	// the identity provider's Standing. Required: Mount panics without.
	Standing func(context.Context, accesstoken.Claims) error
	// ClientAddr is the address a request came from, as the audit trail
	// records it: behind trusted proxies, the client's (the identity
	// provider's ClientAddr). Nil means the connection's peer.
	ClientAddr func(*http.Request) string
	// CountRefusal counts a refusal the trail is to record against the
	// bound of the request's address (the identity provider's
	// CountRefusal): record is false past it, throttled true for the
	// refusal that went past it. Anyone who may sign in can hold a token
	// for the API, and each request with it refused was a record. Nil
	// means every refusal is recorded.
	CountRefusal func(ctx context.Context, r *http.Request) (record, throttled bool)
}

// Resource is the API's resource URI: the audience its tokens must name.
func (a *API) Resource() string { return strings.TrimSuffix(a.Issuer, "/") + Path }

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// path is where the API is served: its resource URI's path, the issuer's
// path then Path, as /mcp is served under the issuer's path too.
func (a *API) path() string {
	u, err := url.Parse(a.Resource())
	if err != nil {
		return Path
	}
	return u.Path
}

// metadataPath is the RFC 9728 well-known location of the API's protected
// resource metadata.
func (a *API) metadataPath() string {
	return "/.well-known/oauth-protected-resource" + a.path()
}

// metadataURL is the metadata's URL: the well-known prefix goes at the
// host's root, before the resource's path (RFC 9728 §3.1), not under the
// issuer's path.
func (a *API) metadataURL() string {
	u, err := url.Parse(a.Resource())
	if err != nil {
		return strings.TrimSuffix(a.Issuer, "/") + a.metadataPath()
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = a.metadataPath(), "", "", ""
	return u.String()
}

// Mount registers the API and its metadata on mux.
func (a *API) Mount(mux *http.ServeMux) {
	if a.Standing == nil {
		panic("admin: API.Standing is nil")
	}
	meta := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               a.Resource(),
		AuthorizationServers:   []string{a.Issuer},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Gatehouse admin API",
	})
	mux.Handle("GET "+a.metadataPath(), meta)
	p := a.path()
	mux.Handle("GET "+p+"/audit", a.authorized(a.queryAudit))
	mux.Handle("GET "+p+"/audit/streams", a.authorized(a.auditStreams))
	mux.Handle("GET "+p+"/audit/trace", a.authorized(a.traceAudit))
	// GET only, like every endpoint: another method is the mux's 405.
	mux.Handle("GET "+p+"/", a.authorized(func(w http.ResponseWriter, r *http.Request, _ *admin) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such admin API endpoint"})
	}))
}

// Guard serves next only to whom the API answers: a person holding the
// admin role, with a token for the API (its audience), still standing.
// Everyone else gets the API's challenge (401, with the metadata that
// says how to get such a token) or 403.
func (a *API) Guard(next http.Handler) http.Handler {
	return a.authorized(func(w http.ResponseWriter, r *http.Request, _ *admin) { next.ServeHTTP(w, r) })
}

// admin is who called: a person holding the admin role.
type admin struct {
	claims accesstoken.Claims
}

// authorized checks the bearer token and the admin role before next.
func (a *API) authorized(next func(http.ResponseWriter, *http.Request, *admin)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		token, ok := accesstoken.FromRequest(r)
		if !ok {
			a.challenge(w, http.StatusUnauthorized, "", "")
			return
		}
		c, err := accesstoken.Verify(a.Keys, token, a.Issuer, a.Resource(), a.now())
		switch {
		case errors.Is(err, accesstoken.ErrExpired):
			a.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token expired")
			return
		case errors.Is(err, accesstoken.ErrAudience):
			a.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token is not for the admin API")
			return
		case err != nil:
			a.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid")
			return
		}
		ctx := r.Context()
		if err := a.Standing(ctx, c); err != nil {
			if !errors.Is(err, accesstoken.ErrInvalid) {
				a.logger().Error("admin: check the token's standing", "err", err)
				unavailable(w)
				return
			}
			// The reason names no secret: revoked, the client is
			// disabled, the person no longer exists, and the like.
			reason := strings.TrimPrefix(err.Error(), accesstoken.ErrInvalid.Error()+": ")
			a.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token no longer stands: "+reason)
			return
		}
		// Deny by default. Only a person's token (one with a grant) is
		// looked up as a person: a client_credentials token's subject is
		// the client itself, whatever person may share its name.
		var u store.User
		err = store.ErrNotFound
		if c.GrantID != "" {
			u, err = a.Store.Users().Get(ctx, c.Subject)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.logger().Error("admin: read user", "err", err)
			unavailable(w)
			return
		}
		if err != nil || u.Disabled || !slices.Contains(u.Roles, Role) {
			reason := c.Subject + " does not hold the " + Role + " role"
			switch {
			case c.GrantID == "":
				reason = "a client's own token is no person's"
			case err != nil:
				reason = c.Subject + " is no person of the tenant's"
			case u.Disabled:
				reason = c.Subject + " is disabled"
			}
			if !a.recordDenied(r, c, reason) {
				// Past the address's bound of recorded refusals.
				w.Header().Set("Retry-After", "60")
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too_many_requests",
					"error_description": "too many refused requests from this address; try again later"})
				return
			}
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden",
				"error_description": "the admin API is for people holding the " + Role + " role"})
			return
		}
		// URL.Query drops a malformed pair without a word: a filter
		// dropped so would widen the answer. Refuse the query instead.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			badRequest(w, fmt.Errorf("the query string is malformed: %w", err))
			return
		}
		next(w, r, &admin{claims: c})
	})
}

// challenge answers 401 with the RFC 6750 / RFC 9728 challenge.
func (a *API) challenge(w http.ResponseWriter, status int, code, desc string) {
	params := []string{fmt.Sprintf("resource_metadata=%q", a.metadataURL())}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code), fmt.Sprintf("error_description=%q", desc))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	if code == "" {
		code, desc = "invalid_request", "a bearer token is required"
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// queryAudit answers GET /admin/api/audit: one page of records, oldest
// first, filtered by the query parameters actor, agent, tool, decision,
// type (repeatable), correlation, session, since, until, after (the
// cursor: the previous page's next) and limit (1–1000, default 100).
func (a *API) queryAudit(w http.ResponseWriter, r *http.Request, who *admin) {
	f, clock, err := auditFilter(r.URL.Query(), a.now())
	if err != nil {
		badRequest(w, err)
		return
	}
	// The query as asked, a type named twice once: bounded (checkParams),
	// so that the record keeps it whole.
	q := r.URL.Query()
	if len(f.Types) > 0 {
		q["type"] = f.Types
	}
	seq, ok := a.recordRead(w, r, who, map[string]any{"query": q.Encode()})
	if !ok {
		return
	}
	// A paging reads the trail as it stood at its first page, that page's
	// own audit.read included: every later page's read is a new record,
	// and a paging a record at a time would otherwise chase them forever.
	// Its relative times (since=1h) are read against that page's clock
	// too (auditFilter). The cursor carries both: next is
	// "SEQ:UPTO:CLOCK".
	if f.Upto == 0 || f.Upto > seq {
		f.Upto = seq // a bound past this read's own record bounds nothing
	}
	page, err := a.Audit.Query(r.Context(), f)
	if err != nil {
		a.logger().Error("admin: query the audit trail", "err", err)
		unavailable(w)
		return
	}
	resp := struct {
		Entries []audit.Entry `json:"entries"`
		Next    string        `json:"next,omitempty"`
	}{Entries: page.Entries}
	if page.Next != 0 {
		resp.Next = strconv.FormatInt(page.Next, 10) + ":" + strconv.FormatInt(f.Upto, 10) + ":" +
			strconv.FormatInt(clock.UnixMicro(), 10)
	}
	writeJSON(w, http.StatusOK, resp)
}

// traceAudit answers GET /admin/api/audit/trace?correlation=ID: one tool
// call's whole story, oldest first (audit.Log.Trace): the sign-in, the
// token, then the call's records.
func (a *API) traceAudit(w http.ResponseWriter, r *http.Request, who *admin) {
	q := r.URL.Query()
	if err := checkParams(q, []string{"correlation"}); err != nil {
		badRequest(w, err)
		return
	}
	corr := q.Get("correlation")
	if corr == "" {
		badRequest(w, errors.New("correlation is required"))
		return
	}
	if _, ok := a.recordRead(w, r, who, map[string]any{"trace": corr}); !ok {
		return
	}
	entries, err := a.Audit.Trace(r.Context(), corr)
	if errors.Is(err, audit.ErrTraceTooLong) {
		// Not the store's failure: the answer would be too long. The
		// records are there, page by page, with correlation= on the audit
		// endpoint.
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "too_long", "error_description": err.Error()})
		return
	}
	if err != nil {
		a.logger().Error("admin: trace in the audit trail", "err", err)
		unavailable(w)
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, struct {
		Entries []audit.Entry `json:"entries"`
	}{entries})
}

// streamStatus is one stream in the answer of GET /admin/api/audit/streams.
type streamStatus struct {
	Name     string `json:"name"`
	Active   bool   `json:"active"` // this replica sends it; another one does when false
	Sent     int64  `json:"sent"`
	Failures int64  `json:"failures"`
	Cursor   int64  `json:"cursor"` // seq of the last record delivered
	Lag      int64  `json:"lag"`    // head - cursor, never negative
	Failing  bool   `json:"failing"`
	// LastError is the last failure, with no URL, header or secret in it
	// (the sinks make it so: see audit.SinkStats).
	LastError string `json:"last_error"`
	HeldBack  int64  `json:"held_back"`
	// LastSent is when this replica last delivered to the stream; absent
	// when it has not since it started.
	LastSent *time.Time `json:"last_sent,omitempty"`
}

// auditStreams answers GET /admin/api/audit/streams: the trail's head and,
// for each configured stream, its counters and how far it lags behind the
// head (an empty list when none is configured). It takes no parameters.
// The counters are this replica's: on one where a stream is not active,
// another replica sends it and cursor and lag are as this one last saw.
func (a *API) auditStreams(w http.ResponseWriter, r *http.Request, who *admin) {
	if err := checkParams(r.URL.Query(), nil); err != nil {
		badRequest(w, err)
		return
	}
	// Read before the read is recorded, so that a stream that has caught
	// up shows no lag for the record of this very read; the head first,
	// so that a record appended meanwhile cannot show as lag either.
	head, _, err := a.Audit.Head(r.Context())
	if err != nil {
		a.logger().Error("admin: read the audit head", "err", err)
		unavailable(w)
		return
	}
	var stats []audit.SinkStats
	if a.Streams != nil {
		stats = a.Streams()
	}
	if _, ok := a.recordRead(w, r, who, map[string]any{"read": "streams"}); !ok {
		return
	}
	resp := struct {
		Head    int64          `json:"head"`
		Streams []streamStatus `json:"streams"`
	}{Head: head, Streams: make([]streamStatus, 0, len(stats))}
	for _, s := range stats {
		st := streamStatus{Name: s.Name, Active: s.Active, Sent: s.Sent,
			Failures: s.Failures, Cursor: s.Cursor, Lag: max(0, head-s.Cursor), Failing: s.Failing,
			LastError: s.LastError, HeldBack: s.HeldBack}
		if !s.LastSent.IsZero() {
			st.LastSent = &s.LastSent
		}
		resp.Streams = append(resp.Streams, st)
	}
	writeJSON(w, http.StatusOK, resp)
}

// recordRead records, durably, that who read the trail (detail says
// what), before anything is answered. When it cannot, it answers 503 and
// returns false.
func (a *API) recordRead(w http.ResponseWriter, r *http.Request, who *admin, detail map[string]any) (seq int64, ok bool) {
	ev := audit.Event{Type: audit.AuditRead, Actor: who.claims.Subject, Agent: who.claims.ClientID,
		Session: who.claims.SessionID, TokenID: who.claims.JTI, RemoteAddr: r.RemoteAddr, Detail: detail}
	if a.ClientAddr != nil {
		ev.RemoteAddr = a.ClientAddr(r)
	}
	// An agent reading for the person (a token exchanged, RFC 8693 act)
	// is named with whom it acted through, as at /mcp.
	if who.claims.Act != nil {
		ev.Chain = who.claims.Act.Chain()
	}
	seq, err := a.Audit.Append(r.Context(), ev)
	if err != nil {
		a.logger().Error("admin: record the audit read", "err", err)
		unavailable(w)
		return 0, false
	}
	return seq, true
}

// recordDenied records that the standing token c was refused the API
// (reason): attempts at the admin API by whoever may not use it are what
// a security team looks for. The refusal stands whether or not the trail
// takes it; a trail that refuses it is logged. The records are bounded
// per address (CountRefusal): it reports false for a refusal past the
// bound, to be answered 429 rather than 403 (recorded, marked throttled,
// if it is the one that went past; not recorded after it).
func (a *API) recordDenied(r *http.Request, c accesstoken.Claims, reason string) bool {
	record, throttled := true, false
	if a.CountRefusal != nil {
		record, throttled = a.CountRefusal(r.Context(), r)
	}
	if !record {
		return false
	}
	path, _ := clip.String(r.URL.Path, maxDeniedPath)
	ev := audit.Event{Type: audit.AdminDenied, Agent: c.ClientID, Session: c.SessionID, TokenID: c.JTI,
		RemoteAddr: r.RemoteAddr, Decision: "deny", Policy: "admin-role", Reasons: []string{reason},
		Detail: map[string]any{"path": path}}
	if throttled {
		ev.Detail["throttled"] = true
	}
	if c.GrantID != "" {
		ev.Actor = c.Subject // a person's token; a client's subject is the client
	}
	if a.ClientAddr != nil {
		ev.RemoteAddr = a.ClientAddr(r)
	}
	if c.Act != nil {
		ev.Chain = c.Act.Chain()
	}
	if _, err := a.Audit.Append(r.Context(), ev); err != nil {
		a.logger().Error("admin: record a refusal", "err", err)
	}
	return !throttled
}

// maxDeniedPath bounds the path a refusal records: the caller chose it.
const maxDeniedPath = 256

// filterParams are the query parameters auditFilter knows.
var filterParams = []string{"actor", "agent", "tool", "decision", "type", "correlation", "session", "since", "until", "after", "limit"}

// checkParams refuses a query parameter not in known, and one given more
// than once unless it is repeatable.
func checkParams(q url.Values, known []string, repeatable ...string) error {
	for k, vs := range q {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return fmt.Errorf("unknown parameter %q (this endpoint takes none)", k)
			}
			return fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
		if len(vs) > 1 && !slices.Contains(repeatable, k) {
			return fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		// A filter given empty would filter by nothing: the whole trail
		// instead of what was meant. And a value is a name, an ID or a
		// time: bounded, so that the audit.read record of the query
		// keeps it whole.
		for _, v := range vs {
			switch {
			case v == "":
				return fmt.Errorf("parameter %q is empty: leave it out not to filter by it", k)
			case len(v) > maxParam:
				return fmt.Errorf("parameter %q is longer than %d bytes", k, maxParam)
			}
		}
	}
	return nil
}

// maxParam bounds a query parameter's value: the longest name the trail
// keeps (a client ID metadata document's URL) fits.
const maxParam = 2048

// auditFilter reads the filter of an audit query, and the clock its
// relative times are read against: now at a paging's first page, that
// page's clock (carried by the cursor) at the later ones.
//
// A relative since or until (1h) is a window that slides with the clock:
// read afresh on each page, the records that were in it at the first page
// but slip out of it before their page would never be answered, and the
// paging would end as if they did not exist. So the cursor carries the
// clock, and each page reads the query's times against it, as it reads
// the trail up to the bound the cursor carries. The query itself is read
// afresh on each page, its times as its other filters: it is the
// caller's, and a cursor says only where the paging stands.
func auditFilter(q url.Values, now time.Time) (f audit.Filter, clock time.Time, err error) {
	if err := checkParams(q, filterParams, "type"); err != nil {
		return audit.Filter{}, clock, err
	}
	// A type given twice is asked once (the audit.read record keeps the
	// query, and there are only so many types).
	types := slices.Compact(slices.Sorted(slices.Values(q["type"])))
	f = audit.Filter{Actor: q.Get("actor"), Agent: q.Get("agent"), Tool: q.Get("tool"), Decision: q.Get("decision"),
		Types: types, Correlation: q.Get("correlation"), Session: q.Get("session")}
	// The trail keeps its records to the microsecond, and the cursor
	// carries the clock so: the first page reads its window against the
	// very clock its later pages will.
	clock = time.UnixMicro(now.UnixMicro())
	if v := q.Get("after"); v != "" {
		// The previous page's next: "SEQ:UPTO:CLOCK", CLOCK in
		// microseconds since the Unix epoch; "SEQ:UPTO", the cursor of a
		// server from before the clock was carried, whose paging's
		// times go on being read against each page's own; or a bare SEQ
		// to start a paging there.
		parts := strings.Split(v, ":")
		var n [3]int64
		if len(parts) > len(n) {
			err = errors.New("too many parts")
		}
		for i := 0; err == nil && i < len(parts); i++ {
			n[i], err = strconv.ParseInt(parts[i], 10, 64)
			// A bound and a clock of zero or less are no bound and no
			// clock: a cursor never carries them, so one that does was
			// not made by a page.
			if err == nil && i > 0 && n[i] <= 0 {
				err = errors.New("no bound")
			}
		}
		if err != nil {
			return f, clock, fmt.Errorf("after %q: want the previous page's next (or a record's seq)", v)
		}
		f.After, f.Upto = n[0], n[1]
		// A clock is not checked against this one. It only places a
		// relative window, which the caller could place anywhere with
		// RFC 3339 times: a forged one shows nothing a query could not.
		// And replicas' clocks differ a little: a cursor from one may
		// be ahead of another's.
		if len(parts) == 3 {
			clock = time.UnixMicro(n[2])
		}
	}
	if f.Since, err = audit.ParseTime(q.Get("since"), clock); err != nil {
		return f, clock, fmt.Errorf("since %w", err)
	}
	if f.Until, err = audit.ParseTime(q.Get("until"), clock); err != nil {
		return f, clock, fmt.Errorf("until %w", err)
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			return f, clock, fmt.Errorf("limit %q: want 1 to 1000", v)
		}
	}
	return f, clock, f.Check()
}

func badRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
}

func unavailable(w http.ResponseWriter) {
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // an error is a client gone: nothing to do
}
