package audit

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Event types. One log holds them all.
const (
	LoginSucceeded   = "login.succeeded"
	LoginFailed      = "login.failed"
	Logout           = "logout"
	TokenIssued      = "token.issued"
	TokenRefreshed   = "token.refreshed"
	TokenExchanged   = "token.exchanged"
	TokenRevoked     = "token.revoked"
	TokenReuse       = "token.reuse_detected"
	TokenWrongClient = "token.wrong_client" // a code or refresh token presented by a client it was not issued to (only a stolen one gets there): refused
	ClientRegistered = "client.registered"
	ClientUpdated    = "client.updated"     // a metadata-document client's document changed what is stored of it: before → after
	ClientAuthFailed = "client.auth_failed" // a client secret refused at /token, /introspect or /revoke, or throttled
	ClientsPruned    = "clients.pruned"     // recorded by identity's Purge: registered or metadata clients never used, removed (how many, which)
	ConsentGranted   = "consent.granted"
	ConsentDenied    = "consent.denied" // the person declined on the consent page
	ToolImported     = "tool.imported"  // an upstream offered a new tool: pending an admin's approval
	ToolWithheld     = "tool.withheld"  // an upstream changed an approved tool's definition: withheld until approved
	ToolsListed      = "tools.list"
	ToolDecided      = "tool.decision" // allow or deny, with reasons and policy
	SlipMinted       = "slip.minted"
	SlipRedeemed     = "slip.redeemed"
	SlipReplay       = "slip.replay_refused"
	ToolResult       = "tool.result"
	ToolInput        = "tool.input" // a caller's retry brought answers to what its running call asked (2026-07-28)
	AdminChange      = "admin.change"
	KeyRotated       = "keys.rotated"
	AuditPruned      = "audit.pruned" // recorded by Log.Prune: through which seq, how many
	AuditRead        = "audit.read"   // an admin read the trail through the admin API: who, which query
	// AdminDenied: a token that stands, of someone who does not hold the
	// admin role (or of a client, or a disabled person), was refused the
	// admin API: who, through which client, which path, why.
	AdminDenied = "admin.denied"
)

// Types are the event types above, for filters to refuse any other.
var Types = []string{
	LoginSucceeded, LoginFailed, Logout,
	TokenIssued, TokenRefreshed, TokenExchanged, TokenRevoked, TokenReuse, TokenWrongClient,
	ClientRegistered, ClientUpdated, ClientAuthFailed, ClientsPruned, ConsentGranted, ConsentDenied,
	ToolImported, ToolWithheld, ToolsListed, ToolDecided, SlipMinted, SlipRedeemed, SlipReplay, ToolResult, ToolInput,
	FeaturesListed, FeatureDecided, FeatureResult, FeatureInput, FeatureWithheld,
	AdminChange, KeyRotated, AuditPruned, AuditRead, AdminDenied,
}

// Event types of an upstream MCP server's prompts, resources and
// completions. Detail names the method (prompts/get, resources/read,
// resources/subscribe, completion/complete; prompts/list …).
const (
	FeaturesListed = "features.list"    // prompts, resources or resource templates listed
	FeatureDecided = "feature.decision" // allow or deny, with reasons and policy
	FeatureResult  = "feature.result"
	FeatureInput   = "feature.input" // a caller's retry brought answers to what its prompts/get or resources/read asked (2026-07-28)
	// FeatureWithheld: an upstream changed an approved prompt's or
	// resource template's definition: withheld until approved.
	FeatureWithheld = "feature.withheld"
)

// Event is one entry of the audit trail as its producer fills it in. Field
// values are data: never a password, token, code, verifier, client secret
// or key (producers pass digests or IDs instead).
type Event struct {
	Type string `json:"type"`
	// Correlation ties together one tool call's events (decision, slip,
	// result), or one login's.
	Correlation string   `json:"correlation,omitempty"`
	Session     string   `json:"session,omitempty"`  // login session ID
	TokenID     string   `json:"token_id,omitempty"` // jti of the access token behind the request
	Actor       string   `json:"actor,omitempty"`    // the person (username) or admin
	Agent       string   `json:"agent,omitempty"`    // the client ID acting
	Chain       []string `json:"chain,omitempty"`    // delegation chain, outermost first
	Tool        string   `json:"tool,omitempty"`
	ArgsDigest  string   `json:"args_digest,omitempty"` // SHA-256 of the canonical JSON arguments
	Decision    string   `json:"decision,omitempty"`    // allow | deny
	Policy      string   `json:"policy,omitempty"`
	Reasons     []string `json:"reasons,omitempty"`
	SlipID      string   `json:"slip_id,omitempty"`
	Status      string   `json:"status,omitempty"` // ok | error | refused …
	DurationMS  float64  `json:"duration_ms,omitempty"`
	RemoteAddr  string   `json:"remote_addr,omitempty"`
	// Detail holds what else the event type needs (a login's failure
	// class, an admin change's before and after with secrets redacted).
	Detail map[string]any `json:"detail,omitempty"`
}

// Recorder writes events. Record returns only when the event is durable,
// so an allow can be recorded before its effect is acknowledged.
// Implementations are safe for concurrent use.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}

// BatchRecorder is a Recorder that can append several events in one
// transaction with one durable wait. *Log is one.
type BatchRecorder interface {
	Recorder
	// RecordAll appends events in order, atomically, and returns once
	// they are durable.
	RecordAll(ctx context.Context, events ...Event) error
}

// MarkingRecorder is a BatchRecorder that can also write a single-use
// marker (store.Consumer's) in the transaction of the events: the events
// and the marker are durable together or not at all, and a marker already
// used fails the whole append. *Log is one.
type MarkingRecorder interface {
	BatchRecorder
	RecordAllMarking(ctx context.Context, m store.Marker, events ...Event) error
}

// BusyHinter is a Recorder that can be told a caller is about to record
// and wait, soon and more than once, so that concurrent callers share
// commits (see Log.Busy). *Log is one.
type BusyHinter interface {
	Busy() (done func())
}

// Busy tells r, when it is a BusyHinter, that the caller is about to
// record; call the returned func when done.
func Busy(r Recorder) (done func()) {
	if b, ok := r.(BusyHinter); ok {
		return b.Busy()
	}
	return func() {}
}

// Enqueuer is a Recorder that can queue an event without waiting for it
// to be durable, keeping it ordered before every event recorded after it:
// the next Record (or RecordAll) that returns nil has made it durable too.
// *Log is one.
type Enqueuer interface {
	Recorder
	Enqueue(ctx context.Context, e Event) error
}

// RecordAll records events on r in order with one durable wait when r is
// a BatchRecorder, else one Record at a time (stopping at the first error).
func RecordAll(ctx context.Context, r Recorder, events ...Event) error {
	if b, ok := r.(BatchRecorder); ok {
		return b.RecordAll(ctx, events...)
	}
	for _, e := range events {
		if err := r.Record(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// Enqueue queues e on r without waiting when r is an Enqueuer, else
// records it (durably, as Record does). Either way e is durable once a
// later Record on r returns nil.
func Enqueue(ctx context.Context, r Recorder, e Event) error {
	if q, ok := r.(Enqueuer); ok {
		return q.Enqueue(ctx, e)
	}
	return r.Record(ctx, e)
}

// Discard is a Recorder that keeps nothing, for tools and tests that do not
// look at the trail.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record(context.Context, Event) error { return nil }

// Clock is the time source of recorders; tests inject one.
type Clock func() time.Time
