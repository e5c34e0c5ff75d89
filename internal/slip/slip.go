package slip

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// Alg is the algorithm slips are signed with.
const Alg = keys.EdDSA

// ConsumeKind is the kind under which redeemed slips are marked used.
const ConsumeKind = "slip"

// DefaultTTL is how long a slip lives when Minter.TTL is zero.
const DefaultTTL = 30 * time.Second

// Errors of Verify and Redeem, besides those of slipverify (ErrInvalid,
// ErrExpired, ErrAudience, ErrArguments, ErrUsed), which they wrap.
var (
	// ErrWrongTool: the slip is for another tool.
	ErrWrongTool = errors.New("permission slip is for another tool")
)

// Minter mints, verifies and redeems the tenant's permission slips. Set its
// fields once; it is then safe for concurrent use.
type Minter struct {
	// Issuer is the tenant's issuer URL: slips' iss, and the prefix of their
	// audiences (slipverify.ToolAudience).
	Issuer string
	// Keys signs and verifies slips.
	Keys *keys.Manager
	// Store decides single use (Consume), across replicas.
	Store store.Consumer
	// Audit receives slip.redeemed and slip.replay_refused; nil discards.
	Audit audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TTL is a slip's lifetime; zero means DefaultTTL. It is capped at
	// slipverify.MaxLifetime.
	TTL time.Duration
	// Origin, when set, names the login session and the token of the call
	// that minted a slip (audit.Log.SlipOrigin), for the records of its
	// introspection: the slip does not carry them.
	Origin func(ctx context.Context, correlation, slipID string) (session, token string, err error)

	own   ownSlips
	local localKey // see local.go
}

// ownSlips remembers the slips this Minter signed for no particular
// redeemer (built-in and upstream tools, which the gateway redeems itself)
// until they are redeemed or expire, by their exact compact form, so that
// redeeming one in the same process skips the Ed25519 verification: a
// token byte-for-byte equal to one this Minter signed carries a valid
// signature by construction. Every claim is still checked, and single use
// is still decided by the store. Any other slip, or one redeemed
// elsewhere, is verified in full.
type ownSlips struct {
	mu    sync.Mutex
	m     map[string]*ownSlip
	sweep int64 // unix time of the next sweep of expired entries
}

type ownSlip struct {
	c *slipverify.Claims
	// spent: its single-use marker is committed (RecordSpent), and the
	// first redemption in this process takes it without the store.
	spent bool
}

// maxOwnSlips bounds the memory of ownSlips (about 1 KiB a slip).
var maxOwnSlips = 1 << 14

func (o *ownSlips) put(token string, c *slipverify.Claims, now int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[string]*ownSlip)
	}
	if now >= o.sweep {
		for t, s := range o.m {
			if now >= s.c.Expiry+int64(slipverify.Leeway/time.Second) {
				delete(o.m, t)
			}
		}
		o.sweep = now + 10
	}
	if len(o.m) >= maxOwnSlips {
		// Full of slips nobody redeemed (calls that failed before their
		// backend ran): make room by dropping one at random, which is
		// then verified in full if it ever is redeemed. Not a spent one:
		// its call, about to redeem it, would find the marker its allow
		// wrote and be refused as a replay (see markSpent). Spent ones go
		// with their redemption or their expiry (the sweep).
		for t, s := range o.m {
			if !s.spent {
				delete(o.m, t)
				break
			}
		}
	}
	o.m[token] = &ownSlip{c: c}
}

func (o *ownSlips) get(token string) (*slipverify.Claims, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.m[token]; ok {
		return s.c, true
	}
	return nil, false
}

// markSpent marks token, whose claims are c, spent. One dropped from a
// full memory since it was looked at (put) is taken back: its marker is
// in the store, and whoever redeemed it in full would find it there and
// refuse the call whose allow had just spent it, as a replay. So the
// memory may go past maxOwnSlips by the slips spent and not yet redeemed
// (put drops none of them): calls between their commit and their run.
func (o *ownSlips) markSpent(token string, c *slipverify.Claims) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.m[token]; ok {
		s.spent = true
		return
	}
	if o.m == nil {
		o.m = make(map[string]*ownSlip)
	}
	o.m[token] = &ownSlip{c: c, spent: true}
}

// takeSpent forgets token and reports whether it was spent: true for
// exactly one caller.
func (o *ownSlips) takeSpent(token string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.m[token]
	if !ok || !s.spent {
		return false
	}
	delete(o.m, token)
	return true
}

func (o *ownSlips) forget(token string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, token)
}

// Request describes the one call a slip authorizes.
type Request struct {
	Tool string // catalogue name
	// Args are the call's arguments in canonical JSON
	// (slipverify.Canonical): exactly the bytes the backend receives.
	Args    []byte
	Subject string            // the person
	Actor   *slipverify.Actor // the agent, with its delegation chain
	// Redeemer, when set, is the only client that may introspect the slip.
	Redeemer string
	// Local: the slip is redeemed in this process and sent nowhere (a
	// built-in or upstream MCP tool's). It is MACed with the Minter's
	// local key instead of signed (local.go). A slip that goes out as a
	// bearer token, even one without a Redeemer, must not be Local.
	Local bool
	// Correlation is the call's ID in the audit trail (the txn claim).
	Correlation string
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Minter) ttl() time.Duration {
	switch {
	case m.TTL <= 0:
		return DefaultTTL
	case m.TTL > slipverify.MaxLifetime*time.Second:
		return slipverify.MaxLifetime * time.Second
	}
	return m.TTL
}

func (m *Minter) recorder() audit.Recorder {
	if m.Audit == nil {
		return audit.Discard
	}
	return m.Audit
}

// Audience is the resource URI of tool's slips.
func (m *Minter) Audience(tool string) string { return slipverify.ToolAudience(m.Issuer, tool) }

// Mint signs a slip for r and returns it with its claims: with the
// tenant's key, or, for a Local one, with the process's (local.go).
func (m *Minter) Mint(r Request) (string, slipverify.Claims, error) {
	if r.Tool == "" || r.Subject == "" {
		return "", slipverify.Claims{}, errors.New("mint slip: a tool and a subject are required")
	}
	now := m.now()
	iat := now.Unix()
	c := slipverify.Claims{
		Issuer:   m.Issuer,
		Subject:  r.Subject,
		Audience: m.Audience(r.Tool),
		Actor:    r.Actor,
		Scope:    "tool:" + r.Tool,
		AuthorizationDetails: []slipverify.Detail{{
			Type:       slipverify.DetailType,
			Tool:       r.Tool,
			ArgsSHA256: slipverify.Digest(args(r.Args)),
			Redeemer:   r.Redeemer,
		}},
		JTI:         newID(),
		IssuedAt:    iat,
		Expiry:      iat + int64(m.ttl()/time.Second),
		Transaction: r.Correlation,
	}
	var (
		tok string
		err error
	)
	if r.Local && r.Redeemer == "" {
		tok, err = m.local.sign(&c)
	} else {
		tok, err = m.Keys.SignJSON(Alg, slipverify.Type, c)
	}
	if err != nil {
		return "", slipverify.Claims{}, fmt.Errorf("mint slip: %w", err)
	}
	if r.Redeemer == "" {
		// Redeemed in this process (built-in and upstream tools): known
		// by its form. A slip for an API goes out and is introspected,
		// on whichever replica.
		own := c
		m.own.put(tok, &own, iat)
	}
	return tok, c, nil
}

// args treats absent arguments as the empty object, as slipverify.Canonical
// does.
func args(a []byte) []byte {
	if len(a) == 0 {
		return []byte("{}")
	}
	return a
}

// Verify checks that token is a valid, unexpired slip of this issuer for
// tool and exactly args, without redeeming it.
func (m *Minter) Verify(token, tool string, args []byte) (*slipverify.Claims, error) {
	c, err := m.parse(token)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(m.Issuer, m.Audience(tool), args, m.now()); err != nil {
		return c, err
	}
	if d, _ := c.Call(); d.Tool != tool {
		return c, ErrWrongTool
	}
	return c, nil
}

// parse verifies the signature and type and decodes the claims. A slip
// this Minter signed is known by its exact form: its claims are returned
// (a copy) without the signature check. A local slip no longer remembered
// has its MAC checked; any other is verified against the tenant's keys.
func (m *Minter) parse(token string) (*slipverify.Claims, error) {
	if c, ok := m.own.get(token); ok {
		cp := *c
		return &cp, nil
	}
	payload, local, valid := m.local.verify(token)
	if local && !valid {
		return nil, fmt.Errorf("%w: bad MAC", slipverify.ErrInvalid)
	}
	if !local {
		var err error
		if payload, err = m.Keys.Verify(token, slipverify.Type); err != nil {
			return nil, fmt.Errorf("%w: %w", slipverify.ErrInvalid, err)
		}
	}
	return decodeClaims(token, payload)
}

// exactClaims is slipverify.Claims without its UnmarshalJSON, for
// decodeClaims's fast path.
type exactClaims slipverify.Claims

// decodeClaims decodes the claims payload of the slip token, whose
// signature or MAC is already checked. What a Minter writes (every member
// named exactly as the struct tags name it, once, aud a string, valid
// UTF-8) is read by encoding/json/v2 in one pass, a sixth of
// encoding/json's cost, which scans the payload twice before decoding it
// (once more through Claims.UnmarshalJSON): with unknown members refused
// and names matched exactly, that pass takes no name twice or in another
// case, so what it accepts slipverify reads the same. Anything else — an
// unknown member, aud as an array, a name twice or in another case — is
// held to slipverify.CheckNames, then read by encoding/json as slipverify
// reads it: a slip with ambiguous names, which other JWT libraries read
// otherwise than encoding/json, is invalid here as it is to every tool.
func decodeClaims(token string, payload []byte) (*slipverify.Claims, error) {
	var c slipverify.Claims
	if jsonv2.Unmarshal(payload, (*exactClaims)(&c), jsonv2.RejectUnknownMembers(true)) == nil {
		return &c, nil
	}
	if err := slipverify.CheckNames(token); err != nil {
		return nil, err
	}
	c = slipverify.Claims{}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", slipverify.ErrInvalid, err)
	}
	return &c, nil
}

// Redeem verifies the slip for tool and args and spends it. Only the first
// Redeem (or introspection) of a slip on any replica succeeds; later ones
// return an error wrapping slipverify.ErrUsed. Either outcome is recorded
// in the audit trail (durably) before Redeem returns; if it cannot be, the
// redemption fails.
func (m *Minter) Redeem(ctx context.Context, token, tool string, args []byte) (*slipverify.Claims, error) {
	return m.redeem(ctx, token, tool, args, false)
}

// RedeemQueued is Redeem for an executor whose call ends with a durable
// audit record of its own (the gateway's tool.result): slip.redeemed is
// queued (audit.Enqueue) rather than waited for, and that later durable
// record covers it, as the trail commits in order. Single use is decided
// by the store exactly as in Redeem, before RedeemQueued returns; a
// refused replay is still recorded durably.
func (m *Minter) RedeemQueued(ctx context.Context, token, tool string, args []byte) (*slipverify.Claims, error) {
	return m.redeem(ctx, token, tool, args, true)
}

func (m *Minter) redeem(ctx context.Context, token, tool string, args []byte, queued bool) (*slipverify.Claims, error) {
	c, err := m.Verify(token, tool, args)
	if err != nil {
		return nil, err
	}
	// The issuer's own clock decides, as for an introspection: from exp
	// on the slip is dead here. Verify's Leeway is for other parties'
	// clocks; this process minted the slip by this one.
	if m.now().Unix() >= c.Expiry {
		m.own.forget(token)
		return nil, fmt.Errorf("%w: before it was redeemed", slipverify.ErrExpired)
	}
	if m.own.takeSpent(token) {
		// Spent when its allow was committed (RecordSpent), for the
		// first redemption here: this one.
		return c, nil
	}
	defer m.own.forget(token)
	if err := m.consume(ctx, c, "", queued); err != nil {
		return nil, err
	}
	return c, nil
}

// Marker is the single-use marker of the slip c that this Minter minted
// for itself to redeem (RecordSpent): checked only in this process, against
// its own clock, it is kept just past the slip's expiry.
func (m *Minter) Marker(c *slipverify.Claims) store.Marker {
	return store.Marker{Kind: ConsumeKind, ID: c.JTI, Expires: time.Unix(c.Expiry, 0).Add(slipverify.Leeway + time.Second)}
}

// MarkerSkew is how long past a slip's expiry the single-use marker of a
// slip redeemed or voided through the store is kept. Every replica purges
// expired markers by its own clock while another may still deem the slip
// unexpired by its own: a marker kept only just past the expiry would let a
// replica whose clock runs ahead of another's by a few seconds bring a
// redeemed slip back to life there. The markers are small; ten minutes
// outlasts any skew a working deployment has.
const MarkerSkew = 10 * time.Minute

func markerExpiry(c *slipverify.Claims) time.Time {
	return time.Unix(c.Expiry, 0).Add(slipverify.Leeway + MarkerSkew)
}

// RecordSpent records events (the call's decision and the slip's minting)
// and spends the slip token, with claims c, that this Minter minted for
// itself to redeem (no redeemer: built-in and upstream tools), all in one
// durable commit: events, slip.redeemed and the slip's single-use marker,
// on a recorder that can write markers (audit.MarkingRecorder). The first
// Redeem or RedeemQueued of the slip in this process then takes it without
// a write of its own; any other use of it, here or on another replica,
// finds the marker and is refused. This saves a commit per call on the
// executor's path; single use stays decided in the database.
//
// It reports whether the slip was spent. When not (the recorder
// cannot write markers, or token is not an own slip of this Minter's), the
// events were recorded all the same (audit.RecordAll) and the slip is
// redeemed as ever. On error the slip is neither spent nor redeemable here.
func (m *Minter) RecordSpent(ctx context.Context, r audit.Recorder, token string, c *slipverify.Claims, events ...audit.Event) (bool, error) {
	mr, ok := r.(audit.MarkingRecorder)
	if _, own := m.own.get(token); !ok || !own {
		return false, audit.RecordAll(ctx, r, events...)
	}
	e := event(c)
	e.Type, e.Status = audit.SlipRedeemed, "ok"
	if len(events) > 0 {
		// The call's own records know its login session and token; the
		// slip does not carry them.
		e.Session, e.TokenID = events[0].Session, events[0].TokenID
	}
	if err := mr.RecordAllMarking(ctx, m.Marker(c), append(events[:len(events):len(events)], e)...); err != nil {
		m.own.forget(token)
		return false, err
	}
	m.own.markSpent(token, c)
	return true, nil
}

// Void spends c's slip without anything running: for a call the gateway
// gave up on (it timed out, or failed on the way), so that the tool cannot
// redeem it later, and act, while the caller, told the call failed, tries
// again with a new slip. It reports whether the slip was still unredeemed
// (void now); false means the tool had redeemed it, and may have acted.
//
// A slip spent with its call's allow (RecordSpent) has its marker in the
// store already, though its call has not run: what says whether it ran
// is this process's memory of it. Taking it from there keeps the
// executor from running it (its redemption then finds the marker) and
// reports it void. token is c's slip: that memory knows a slip by it.
func (m *Minter) Void(ctx context.Context, token string, c *slipverify.Claims) (bool, error) {
	if m.own.takeSpent(token) {
		return true, nil
	}
	first, err := m.Store.Consume(ctx, ConsumeKind, c.JTI, markerExpiry(c))
	if err != nil {
		return false, fmt.Errorf("void slip: %w", err)
	}
	return first, nil
}

// consume marks c used and records the outcome. via names the client that
// introspected, if any; queued records a successful redemption without
// waiting for it to be durable.
func (m *Minter) consume(ctx context.Context, c *slipverify.Claims, via string, queued bool) error {
	first, err := m.Store.Consume(ctx, ConsumeKind, c.JTI, markerExpiry(c))
	if err != nil {
		return fmt.Errorf("redeem slip: %w", err)
	}
	e := event(c)
	if via != "" {
		e = m.introspected(ctx, c, via)
	}
	if first {
		e.Type, e.Status = audit.SlipRedeemed, "ok"
	} else {
		e.Type, e.Status = audit.SlipReplay, "refused"
	}
	if queued && first {
		err = audit.Enqueue(ctx, m.recorder(), e)
	} else {
		err = m.recorder().Record(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("redeem slip: audit: %w", err)
	}
	if !first {
		return slipverify.ErrUsed
	}
	return nil
}

// introspected is the event of an introspection of c's slip by client
// via, with the session and token of the call that minted it when Origin
// finds them (a trail it cannot read leaves them out: the record itself
// says whether it could be written).
func (m *Minter) introspected(ctx context.Context, c *slipverify.Claims, via string) audit.Event {
	e := event(c)
	e.Detail = map[string]any{"introspected_by": via}
	if m.Origin != nil {
		if session, token, err := m.Origin(ctx, c.Transaction, c.JTI); err == nil {
			e.Session, e.TokenID = session, token
		}
	}
	return e
}

func event(c *slipverify.Claims) audit.Event {
	d, _ := c.Call()
	e := audit.Event{
		Correlation: c.Transaction,
		Actor:       c.Subject,
		Tool:        d.Tool,
		ArgsDigest:  d.ArgsSHA256,
		SlipID:      c.JTI,
	}
	if c.Actor != nil {
		e.Chain = c.Actor.Chain()
		e.Agent = e.Chain[0]
	}
	return e
}

// Introspect answers an RFC 7662 introspection of token by the client
// callerClientID (authenticated by the caller; service: a service client,
// a resource server). ok is false when token is not a slip at all, so that
// the identity provider answers for its own tokens. For a slip, the first
// introspection of a valid one by its redeemer (the client it names, or
// any service client when it names none) redeems it and answers active
// with its claims; every later one, and any for an invalid, expired or
// foreign slip, or by another client, answers {"active": false}. When
// whether the slip was used cannot be decided (the store or the audit
// trail failed), resp is nil: that is no answer about the slip, and the
// endpoint answers a server error, which a tool reports as the issuer
// unavailable rather than as a replay.
func (m *Minter) Introspect(ctx context.Context, token, callerClientID string, service bool) (resp map[string]any, ok bool) {
	if !isSlip(token) {
		return nil, false
	}
	inactive := map[string]any{"active": false}
	if payload, local, valid := m.local.verify(token); local {
		// A local slip is never sent to a tool (local.go): one presented
		// here has leaked, or is forged. Refused without spending it (its
		// executor still runs it once), and recorded: with its claims
		// when its MAC says this process made it, without (untrusted)
		// otherwise.
		e := audit.Event{}
		var c slipverify.Claims
		if valid && json.Unmarshal(payload, &c) == nil {
			e = event(&c)
		}
		e.Type, e.Status = audit.SlipReplay, "local"
		e.Detail = map[string]any{"introspected_by": callerClientID}
		m.recorder().Record(ctx, e)
		return inactive, true
	}
	c, err := m.parse(token)
	if err != nil {
		return inactive, true
	}
	// The claims as slipverify.Validate holds them, but the arguments,
	// which only the tool has (it checks them itself); a slip from
	// another replica may have been issued a little ahead of this clock.
	d, one := c.Call()
	if c.Issuer != m.Issuer || !one || c.Audience != m.Audience(d.Tool) || c.Scope != "tool:"+d.Tool ||
		c.Subject == "" || c.JTI == "" || c.IssuedAt == 0 || !lifetimeOK(c.IssuedAt, c.Expiry) ||
		c.IssuedAt > m.now().Unix()+int64(slipverify.Leeway/time.Second) {
		return inactive, true
	}
	// The issuer's own clock decides (RFC 7662: an expired token is
	// inactive); the leeway is for the clocks of tools checking locally.
	if m.now().Unix() >= c.Expiry {
		e := m.introspected(ctx, c, callerClientID)
		e.Type, e.Status = audit.SlipReplay, "expired"
		m.recorder().Record(ctx, e)
		return inactive, true
	}
	// A slip that names no redeemer is any service client's to redeem,
	// never another client's (an agent anyone can register, say), which
	// would spend it before the API it was minted for.
	if d.Redeemer != "" && d.Redeemer != callerClientID || d.Redeemer == "" && !service {
		e := m.introspected(ctx, c, callerClientID)
		e.Type, e.Status = audit.SlipReplay, "wrong_client"
		m.recorder().Record(ctx, e)
		return inactive, true
	}
	defer m.own.forget(token)
	if err := m.consume(ctx, c, callerClientID, false); err != nil {
		if errors.Is(err, slipverify.ErrUsed) {
			return inactive, true
		}
		return nil, true
	}
	resp = map[string]any{
		"active":                true,
		"token_type":            slipverify.Type,
		"iss":                   c.Issuer,
		"sub":                   c.Subject,
		"aud":                   c.Audience,
		"scope":                 c.Scope,
		"authorization_details": c.AuthorizationDetails,
		"jti":                   c.JTI,
		"iat":                   c.IssuedAt,
		"exp":                   c.Expiry,
	}
	if c.Actor != nil {
		resp["act"] = c.Actor
		resp["client_id"] = c.Actor.ClientID
	}
	if c.Transaction != "" {
		resp["txn"] = c.Transaction
	}
	return resp, true
}

// lifetimeOK reports whether exp is at most slipverify.MaxLifetime after
// iat and not before it, as slipverify's Validate holds it: exp-iat alone
// wraps around to a negative int64 for iat far back and exp far ahead.
func lifetimeOK(iat, exp int64) bool {
	d := exp - iat
	return exp >= iat && d >= 0 && d <= slipverify.MaxLifetime
}

// isSlip reports whether token's JOSE header says it is a slip, without
// verifying anything.
func isSlip(token string) bool {
	h, _, ok := strings.Cut(token, ".")
	if !ok || len(h) > 1024 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return false
	}
	return strings.EqualFold(strings.TrimPrefix(strings.ToLower(hdr.Typ), "application/"), slipverify.Type)
}

// sortable is base64url's alphabet in ASCII order: encoded IDs compare as
// their bytes do.
var sortable = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

// newID returns a unique identifier: a millisecond clock (42 bits, until
// the year 2109), then 86 random bits, 22 URL-safe characters. IDs made
// later sort after earlier ones, so the B-tree entries keyed by them (a
// slip's single-use marker, the audit trail's correlation index) go to the
// right edge of their index instead of each to a random page: fewer pages
// written per commit. The clock fills the top bits so that an ID never
// starts with "-" (a command line would take it for a flag). Not a secret
// (what it names is signed, public or never leaves the process), though
// its 86 random bits make it unguessable.
func newID() string { return newIDAt(time.Now()) }

// minIDMillis is the earliest time an ID's clock part takes (early March
// 1972): earlier, its top six bits, the ID's first character, would be
// "-". A machine whose clock reads 1970 (booted without a clock, before
// it synchronised) makes IDs that sort by their random bits alone then.
const minIDMillis = 1 << 36

// newIDAt is newID with the clock reading t.
func newIDAt(t time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	ms := uint64(max(t.UnixMilli(), minIDMillis)) & (1<<42 - 1)
	hi := ms<<22 | binary.BigEndian.Uint64(b[:8])&(1<<22-1)
	binary.BigEndian.PutUint64(b[:8], hi)
	return sortable.EncodeToString(b[:])
}

// NewID returns a unique identifier that sorts by when it was made (see
// newID), for correlation IDs, progress tokens, the gateway's barrier
// logger names and its call tags (which rely on the random bits: an
// upstream must not guess another call's tag).
func NewID() string { return newID() }
