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
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Role is the built-in role whose members may use the API.
const Role = store.AdminRole

// Path is where the API is mounted under the issuer.
const Path = "/admin/api"

// Store is what the API needs of the store: users (for the admin role)
// and the revocation list.
type Store interface {
	Users() store.Collection[store.User]
	Identity() store.Identity
}

// API is the admin JSON API. Set the fields, then Mount it.
type API struct {
	// Issuer is the tenant's issuer; the API's resource URI is
	// Issuer + Path.
	Issuer string
	Keys   *keys.Manager
	Store  Store
	// Audit is the trail the API reads, and records its reads in.
	Audit  *audit.Log
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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

// metadataPath is the RFC 9728 well-known location of the API's protected
// resource metadata.
func (a *API) metadataPath() string {
	u, err := url.Parse(a.Resource())
	if err != nil {
		return "/.well-known/oauth-protected-resource" + Path
	}
	return "/.well-known/oauth-protected-resource" + u.Path
}

// Mount registers the API and its metadata on mux.
func (a *API) Mount(mux *http.ServeMux) {
	meta := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               a.Resource(),
		AuthorizationServers:   []string{a.Issuer},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Gatehouse admin API",
	})
	mux.Handle("GET "+a.metadataPath(), meta)
	mux.Handle("GET "+Path+"/audit", a.authorized(a.queryAudit))
	mux.Handle(Path+"/", a.authorized(func(w http.ResponseWriter, r *http.Request, _ *admin) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such admin API endpoint"})
	}))
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
		revoked, err := a.Store.Identity().Revoked(ctx, c.GrantID, c.JTI)
		if err != nil {
			a.logger().Error("admin: check revocation", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
			return
		}
		if revoked {
			a.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token was revoked")
			return
		}
		u, err := a.Store.Users().Get(ctx, c.Subject)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.logger().Error("admin: read user", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
			return
		}
		// Deny by default: a token of a client (no person), an unknown or
		// disabled user, or a person without the admin role.
		if err != nil || u.Disabled || !slices.Contains(u.Roles, Role) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden",
				"error_description": "the admin API is for people holding the " + Role + " role"})
			return
		}
		next(w, r, &admin{claims: c})
	})
}

// challenge answers 401 with the RFC 6750 / RFC 9728 challenge.
func (a *API) challenge(w http.ResponseWriter, status int, code, desc string) {
	params := []string{fmt.Sprintf("resource_metadata=%q", strings.TrimSuffix(a.Issuer, "/")+a.metadataPath())}
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
	f, err := auditFilter(r.URL.Query(), a.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	// The read is recorded, durably, before anything is answered.
	ev := audit.Event{Type: audit.AuditRead, Actor: who.claims.Subject, Agent: who.claims.ClientID,
		Session: who.claims.SessionID, TokenID: who.claims.JTI, RemoteAddr: r.RemoteAddr,
		Detail: map[string]any{"query": r.URL.Query().Encode()}}
	if err := a.Audit.Record(r.Context(), ev); err != nil {
		a.logger().Error("admin: record the audit read", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	page, err := a.Audit.Query(r.Context(), f)
	if err != nil {
		a.logger().Error("admin: query the audit trail", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	resp := struct {
		Entries []audit.Entry `json:"entries"`
		Next    string        `json:"next,omitempty"`
	}{Entries: page.Entries}
	if page.Next != 0 {
		resp.Next = strconv.FormatInt(page.Next, 10)
	}
	writeJSON(w, http.StatusOK, resp)
}

// filterParams are the query parameters auditFilter knows.
var filterParams = []string{"actor", "agent", "tool", "decision", "type", "correlation", "session", "since", "until", "after", "limit"}

func auditFilter(q url.Values, now time.Time) (audit.Filter, error) {
	for k, vs := range q {
		if !slices.Contains(filterParams, k) {
			return audit.Filter{}, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(filterParams, ", "))
		}
		if len(vs) > 1 && k != "type" {
			return audit.Filter{}, fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
	}
	f := audit.Filter{Actor: q.Get("actor"), Agent: q.Get("agent"), Tool: q.Get("tool"), Decision: q.Get("decision"),
		Types: q["type"], Correlation: q.Get("correlation"), Session: q.Get("session")}
	var err error
	if f.Since, err = audit.ParseTime(q.Get("since"), now); err != nil {
		return f, fmt.Errorf("since %w", err)
	}
	if f.Until, err = audit.ParseTime(q.Get("until"), now); err != nil {
		return f, fmt.Errorf("until %w", err)
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, fmt.Errorf("after %q: want a record's seq (the previous page's next)", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			return f, fmt.Errorf("limit %q: want 1 to 1000", v)
		}
	}
	return f, f.Check()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // an error is a client gone: nothing to do
}
