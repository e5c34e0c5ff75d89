package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Secrets hashes and checks passwords and client secrets. Apply uses it so
// that a clear secret never reaches the store.
type Secrets interface {
	Hash(secret string) (string, error)
	// Verify reports whether secret matches hash.
	Verify(secret, hash string) bool
}

// Change is one line of a plan.
type Change struct {
	Op   string // "+" create, "~" update, "-" delete
	Kind string // role, user, client, upstream, tool, setting
	Name string
	// Fields are, for updates, the fields that change: secrets named,
	// never shown ("password", "secret"; "secret removed" when a client
	// that becomes native loses its stored secret).
	Fields []string
	// Ended is, for a user removed, disabled or given a new password,
	// what of theirs the change ends (EndUser); nil for every other change.
	Ended *store.UserEnded
	// ClientEnded is, for a client removed, what of its the change ends
	// (EndClient); nil for every other change.
	ClientEnded *store.ClientEnded
}

func (c Change) String() string {
	var notes []string
	if len(c.Fields) > 0 {
		notes = append(notes, strings.Join(c.Fields, ", "))
	}
	if e := c.Ended; e != nil && *e != (store.UserEnded{}) {
		notes = append(notes, "ends "+e.String())
	}
	if e := c.ClientEnded; e != nil && *e != (store.ClientEnded{}) {
		notes = append(notes, "ends "+e.String())
	}
	s := fmt.Sprintf("%s %s %s", c.Op, c.Kind, c.Name)
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// EndUser ends what username holds at the identity provider (see
// store.Tenant.EndUser), for a user removed, disabled or given a new
// password; call it in the transaction that changes them. Their grants
// stay revoked for at least a day, longer than any access token lives
// (ten minutes by default).
func EndUser(ctx context.Context, st store.Tenant, username string) (store.UserEnded, error) {
	return st.EndUser(ctx, username, time.Now().Add(24*time.Hour))
}

// EndClient ends what clientID was given at the identity provider (see
// store.Tenant.EndClient), for a client removed; call it in the transaction
// that deletes it. Its grants stay revoked, and its removal kept, for at
// least a day, longer than any access token lives.
func EndClient(ctx context.Context, st store.Tenant, clientID string) (store.ClientEnded, error) {
	return st.EndClient(ctx, clientID, time.Now().Add(24*time.Hour))
}

// Plan is what applying a file would change. An empty plan changes nothing.
type Plan []Change

// ApplyOptions tune Apply. The zero value is the default.
type ApplyOptions struct {
	// DryRun computes the plan and changes nothing.
	DryRun bool
	// Prune deletes roles, users, clients, upstreams and tools that came
	// from a tenant file (or the admin commands) and are not in this file.
	// Dynamically registered clients, people created by a federated
	// sign-in and upstream tools awaiting a first approval (imported by the
	// gateway, never pinned) are never pruned.
	Prune bool
	// Sealer, when set, seals the audit retention under the master key
	// (SettingRetentionSeal): the servers apply no retention without a
	// seal, so that whoever can write the database but not read the
	// master key cannot have the history pruned. Without one, a changed
	// retention is stored unsealed, and not applied.
	Sealer SettingSealer
	// RenameTenant takes a file whose tenant is not the one the store
	// holds as that tenant's new name. Without it, such a file is refused
	// with ErrOtherTenant.
	RenameTenant bool
	// Decided holds the file's clear passwords and secrets hashed or
	// checked beforehand (DecideSecrets), for ApplyIn. Apply decides them
	// itself when it is nil.
	Decided *DecidedSecrets
}

// DecidedSecrets remembers, for the clear passwords and secrets of a
// file, the hash each one gets against the hash stored when it was
// decided: the stored one when the secret matches it, a new one
// otherwise. The apply's transaction holds the tenant's lock (on SQLite,
// the database's only writer) and argon2id takes tens of milliseconds a
// secret, so with it the transaction hashes and checks only a secret
// whose stored hash changed since, and every other write of the tenant,
// of every replica (a running server's tool calls and sign-ins on
// SQLite), does not wait for a file's worth of them. Not safe for
// concurrent use.
type DecidedSecrets struct{ m map[[2]string]string }

// DecideSecrets hashes or checks the clear passwords and secrets of f
// against what st holds now, outside any transaction, for ApplyOptions's
// Decided.
func DecideSecrets(ctx context.Context, st store.Tenant, f *File, sec Secrets) (*DecidedSecrets, error) {
	d := &DecidedSecrets{m: map[[2]string]string{}}
	a := applier{sec: sec, secrets: d.m}
	stored := func(err error) error {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	}
	for _, u := range f.Users {
		if u.Password == "" || u.PasswordHash != "" {
			continue
		}
		old, err := st.Users().Get(ctx, u.Username)
		if err := stored(err); err != nil {
			return nil, err
		}
		if _, err := a.secret(old.PasswordHash, "", u.Password, "user "+u.Username); err != nil {
			return nil, err
		}
	}
	for _, c := range f.Clients {
		if c.Secret == "" || c.SecretHash != "" {
			continue
		}
		old, err := st.Clients().Get(ctx, c.ClientID)
		if err := stored(err); err != nil {
			return nil, err
		}
		if _, err := a.secret(old.SecretHash, "", c.Secret, "client "+c.ClientID); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SettingSealer seals settings under the master key (*keys.Manager).
type SettingSealer interface {
	SealSetting(name, value string) string
	OpenSetting(name, value, sealed string) bool
}

// SettingRetentionSeal holds the seal of the audit retention
// (SettingSealer): the servers apply the retention only when the seal
// opens to it.
const SettingRetentionSeal = "audit.retention.seal"

// Apply brings the store in line with the file, in one transaction: either
// every change is made or none is. It returns the plan it carried out.
// Applying the same file twice changes nothing the second time.
func Apply(ctx context.Context, st store.Store, f *File, sec Secrets, opts *ApplyOptions) (Plan, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	decided := opts.Decided
	if decided == nil {
		var err error
		if decided, err = DecideSecrets(ctx, st, f, sec); err != nil {
			return nil, err
		}
	}
	var plan Plan
	errDry := errors.New("dry run")
	err := st.InTx(ctx, func(tx store.Tenant) error {
		var err error
		if plan, err = ApplyIn(ctx, tx, f, sec, &ApplyOptions{Prune: opts.Prune, Sealer: opts.Sealer,
			RenameTenant: opts.RenameTenant, Decided: decided}); err != nil {
			return err
		}
		if opts.DryRun {
			return errDry
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDry) {
		return nil, err
	}
	return plan, nil
}

// ApplyIn is Apply in tx, a transaction the caller runs (so that it can
// make more in it, such as the audit records of the changes): it makes
// the changes through tx and returns the plan it carried out. On an error
// the caller must roll tx back: some changes may have been made. opts.DryRun
// is the caller's to honour, by rolling back.
func ApplyIn(ctx context.Context, tx store.Tenant, f *File, sec Secrets, opts *ApplyOptions) (Plan, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	// Validate says so too; a caller that skipped it must not have an
	// empty secret read as "keep the stored one".
	if ps := f.emptySecrets(); len(ps) > 0 {
		return nil, ps
	}
	// The tenant's lock before any row: a replica importing an upstream's
	// tools (the gateway's importTools) holds the lock and waits for the
	// rows of the tools it pins, and an apply holding one of them while
	// it waits for the lock (which its writes take) would be a deadlock.
	if err := tx.Lock(ctx); err != nil {
		return nil, err
	}
	a := applier{ctx: ctx, tx: tx, sec: sec, prune: opts.Prune, sealer: opts.Sealer, rename: opts.RenameTenant}
	if opts.Decided != nil {
		a.secrets = opts.Decided.m
	}
	steps := []func(*File) error{a.tenant, a.roles, a.upstreams, a.clients, a.tools, a.users, a.names, a.connections, a.settings}
	for _, step := range steps {
		if err := step(f); err != nil {
			return nil, err
		}
	}
	return a.plan, nil
}

type applier struct {
	ctx    context.Context
	tx     store.Tenant
	sec    Secrets
	prune  bool
	rename bool // ApplyOptions.RenameTenant
	sealer SettingSealer
	plan   Plan
	// secrets remembers what secret decided for a record and the hash it
	// found stored, so that sync's second merge (against the locked row)
	// neither hashes nor verifies again.
	secrets map[[2]string]string
}

func (a *applier) note(op, kind, name string, fields ...string) {
	a.plan = append(a.plan, Change{Op: op, Kind: kind, Name: name, Fields: fields})
}

// ErrOtherTenant refuses a file of another tenant than the store's (see
// ApplyOptions.RenameTenant). A store holds one tenant: applied to it,
// another's file (the wrong data folder, or the wrong file) would give
// this tenant that one's people, apps and tools, who could then sign in
// here, and with Prune delete this tenant's own.
var ErrOtherTenant = errors.New("the file is another tenant's")

func (a *applier) tenant(f *File) error {
	old, err := a.tx.Setting(a.ctx, "tenant")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if old == f.Tenant {
		return nil
	}
	if old != "" && !a.rename {
		return fmt.Errorf("%w: the store holds tenant %q, and the file describes tenant %q", ErrOtherTenant, old, f.Tenant)
	}
	if old != "" {
		a.note("~", "setting", "tenant", "name")
	} else {
		a.note("+", "setting", "tenant")
	}
	return a.tx.SetSetting(a.ctx, "tenant", f.Tenant)
}

// settings applies the tenant's audit options and limits.
func (a *applier) settings(f *File) error {
	want := map[string]string{"audit.raw_arguments": "false", "audit.retention": "", store.SettingToolCallsPerMinute: "",
		store.SettingToolCallsPerMinutePerPerson: ""}
	if f.Audit != nil {
		want["audit.raw_arguments"] = strconv.FormatBool(f.Audit.RawArguments)
		want["audit.retention"] = f.Audit.Retention
	}
	if f.Limits != nil && f.Limits.ToolCallsPerMinute > 0 {
		want[store.SettingToolCallsPerMinute] = strconv.Itoa(f.Limits.ToolCallsPerMinute)
	}
	if f.Limits != nil && f.Limits.ToolCallsPerMinutePerPerson > 0 {
		want[store.SettingToolCallsPerMinutePerPerson] = strconv.Itoa(f.Limits.ToolCallsPerMinutePerPerson)
	}
	for _, k := range sortedKeys(want) {
		old, err := a.tx.Setting(a.ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			if want[k] == "" || want[k] == "false" {
				continue
			}
		} else if err != nil {
			return err
		} else if old == want[k] {
			continue
		}
		a.note("~", "setting", k)
		if err := a.tx.SetSetting(a.ctx, k, want[k]); err != nil {
			return err
		}
	}
	return a.sealRetention(want["audit.retention"])
}

// sealRetention stores the seal of the retention the file sets, unless
// the stored one already opens to it (applying a file twice changes
// nothing). The seal is not a change of its own in the plan: it goes with
// the retention, and an apply also seals a retention stored unsealed (by
// an earlier version, or by a write to the database the servers refused).
func (a *applier) sealRetention(want string) error {
	if a.sealer == nil {
		return nil
	}
	old, err := a.tx.Setting(a.ctx, SettingRetentionSeal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	switch {
	case want == "" && old == "":
		return nil
	case want == "":
		return a.tx.SetSetting(a.ctx, SettingRetentionSeal, "")
	case a.sealer.OpenSetting("audit.retention", want, old):
		return nil
	}
	return a.tx.SetSetting(a.ctx, SettingRetentionSeal, a.sealer.SealSetting("audit.retention", want))
}

// SettingConnections holds the tenant's federation connections as JSON
// (no secret: each names the environment variable of its secret).
const SettingConnections = "identity.connections"

func (a *applier) connections(f *File) error {
	want := "[]"
	if len(f.Connections) > 0 {
		b, err := json.Marshal(f.Connections)
		if err != nil {
			return err
		}
		want = string(b)
	}
	old, err := a.tx.Setting(a.ctx, SettingConnections)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if want == "[]" {
			return nil
		}
		old = "[]"
	case err != nil:
		return err
	}
	if old == want {
		return nil
	}
	var before []Connection
	json.Unmarshal([]byte(old), &before)
	names := map[string]bool{}
	for _, c := range before {
		names[c.Name] = true
	}
	for _, c := range f.Connections {
		if names[c.Name] {
			a.note("~", "connection", c.Name)
			delete(names, c.Name)
		} else {
			a.note("+", "connection", c.Name)
		}
	}
	for _, n := range sortedKeys(names) {
		a.note("-", "connection", n)
	}
	return a.tx.SetSetting(a.ctx, SettingConnections, want)
}

// Connections reads the tenant's federation connections from the store.
func Connections(ctx context.Context, st store.Tenant) ([]Connection, error) {
	v, err := st.Setting(ctx, SettingConnections)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cs []Connection
	if err := json.Unmarshal([]byte(v), &cs); err != nil {
		return nil, fmt.Errorf("stored connections: %w", err)
	}
	return cs, nil
}

// sync creates or updates each desired record and, with prune, deletes
// those absent. same reports the fields that differ between old and new.
func sync[T any](a *applier, kind string, c store.Collection[T], want []T, key func(T) string,
	merge func(old, new T) (T, []string, error), prunable func(T) bool) error {
	have, err := c.List(a.ctx)
	if err != nil {
		return err
	}
	byKey := map[string]T{}
	for _, h := range have {
		byKey[key(h)] = h
	}
	keep := map[string]bool{}
	for _, w := range want {
		k := key(w)
		keep[k] = true
		old, ok := byKey[k]
		if !ok {
			v, _, err := merge(*new(T), w)
			if err != nil {
				return err
			}
			a.note("+", kind, k)
			if err := c.Create(a.ctx, v); err != nil {
				return err
			}
			continue
		}
		_, changed, err := merge(old, w)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			continue
		}
		a.note("~", kind, k, changed...)
		// Merged again with the row as Update locked it: what others own
		// (the gateway's pin and approval of an upstream tool) is taken as
		// it is now, not as it was read above: an approval committed on
		// another replica meanwhile is kept, not written back over.
		if err := c.Update(a.ctx, k, func(cur T) (T, error) {
			v, _, err := merge(cur, w)
			return v, err
		}); err != nil {
			return err
		}
	}
	if !a.prune {
		return nil
	}
	for _, h := range have {
		if k := key(h); !keep[k] && prunable(h) {
			a.note("-", kind, k)
			if err := c.Delete(a.ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// diff lists the names of the fields of old and new that differ.
func diff(pairs ...any) []string {
	var out []string
	for i := 0; i+2 < len(pairs); i += 3 {
		if !reflect.DeepEqual(norm(pairs[i+1]), norm(pairs[i+2])) {
			out = append(out, pairs[i].(string))
		}
	}
	return out
}

// norm makes nil and empty slices and maps compare equal.
func norm(v any) any {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return []string(nil)
		}
	case map[string]string:
		if len(x) == 0 {
			return map[string]string(nil)
		}
	case json.RawMessage:
		if len(x) == 0 {
			return ""
		}
		var v any
		if json.Unmarshal(x, &v) == nil {
			b, _ := json.Marshal(v) // sorted keys
			return string(b)
		}
		return string(x)
	}
	return v
}

func sortedSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// BuiltInAdminRole is the tenant's built-in admin role as it is made when
// nothing describes it otherwise: by a tenant file, or by the admin
// commands the first time one names it.
func BuiltInAdminRole() store.Role {
	return store.Role{Name: store.AdminRole, Description: "Runs the dashboard and the admin API", BuiltIn: true}
}

func (a *applier) roles(f *File) (err error) {
	want := []store.Role{BuiltInAdminRole()}
	for _, r := range f.Roles {
		if r.Name == store.AdminRole {
			if r.Description != "" {
				want[0].Description = r.Description
			}
			continue
		}
		want = append(want, store.Role{Name: r.Name, Description: r.Description})
	}
	for _, r := range f.GrantedRoles() {
		want = append(want, store.Role{Name: r})
	}
	// A role pruned is taken from everyone who holds it, as role remove
	// takes it: people the file does not name (a federated sign-in's) and
	// tools it does not (an upstream's, awaiting approval) would keep it
	// otherwise, and a role created later under that name would be theirs
	// unasked. The stored connections lose it too, though the file's,
	// which replace them below, cannot name it (Validate): as for a
	// person, the role's removal is the change the plan shows.
	var pruned []string
	if a.prune {
		have, err := a.tx.Roles().List(a.ctx)
		if err != nil {
			return err
		}
		for _, h := range have {
			if !h.BuiltIn && !slices.ContainsFunc(want, func(w store.Role) bool { return w.Name == h.Name }) {
				pruned = append(pruned, h.Name)
			}
		}
	}
	defer func() {
		for _, r := range pruned {
			if err == nil {
				_, err = TakeRole(a.ctx, a.tx, r)
			}
		}
	}()
	return sync(a, "role", a.tx.Roles(), want, func(r store.Role) string { return r.Name },
		func(old, w store.Role) (store.Role, []string, error) {
			ch := diff("description", old.Description, w.Description, "built_in", old.BuiltIn, w.BuiltIn)
			old.Name, old.Description, old.BuiltIn = w.Name, w.Description, w.BuiltIn
			return old, ch, nil
		}, prunableRole)
}

func (a *applier) users(f *File) error {
	want := make([]store.User, 0, len(f.Users))
	clear := map[string]string{}
	for _, u := range f.Users {
		want = append(want, store.User{Username: u.Username, Email: u.Email, PasswordHash: u.PasswordHash,
			Roles: sortedSet(u.Roles), Attributes: u.Attributes, Disabled: u.Disabled})
		if u.Password != "" {
			clear[u.Username] = u.Password
		}
	}
	first := len(a.plan)
	err := sync(a, "user", a.tx.Users(), want, func(u store.User) string { return u.Username },
		func(old, w store.User) (store.User, []string, error) {
			ch := diff("email", old.Email, w.Email, "roles", old.Roles, w.Roles,
				"attributes", old.Attributes, w.Attributes, "disabled", old.Disabled, w.Disabled)
			hash, err := a.secret(old.PasswordHash, w.PasswordHash, clear[w.Username], "user "+w.Username)
			if err != nil {
				return old, nil, err
			}
			switch {
			case w.PasswordHash != "":
				// A sign-in makes the hash a file imported again with the
				// provider's parameters, for the same password: the file
				// still giving that hash is no change. Putting it back
				// would end the person's sessions at every apply, and
				// their next sign-in would make it again.
				w.ImportedHash = hashSum(w.PasswordHash)
				if old.ImportedHash == w.ImportedHash && old.PasswordHash != "" {
					hash = old.PasswordHash
				}
			case hash == old.PasswordHash:
				w.ImportedHash = old.ImportedHash
			}
			if hash != old.PasswordHash && old.Username != "" {
				ch = append(ch, "password")
			}
			if hash == old.PasswordHash {
				// The stamp a sign-in's rehash kept for the hash (the
				// person's device cookies carry it) stays with it.
				w.DeviceStamp = old.DeviceStamp
			}
			w.PasswordHash = hash
			w.CreatedAt, w.UpdatedAt = old.CreatedAt, old.UpdatedAt
			return w, ch, nil
		}, prunableUser)
	if err != nil {
		return err
	}
	// A user removed or disabled keeps no session, grant or consent: a
	// user enabled again, or a new one of the same name, must sign in and
	// consent afresh. Nor does one given a new password: an operator sets
	// one when the old one leaked, and what was won with it ends with it.
	disabled := map[string]bool{}
	for _, u := range want {
		disabled[u.Username] = u.Disabled
	}
	for i := first; i < len(a.plan); i++ {
		c := &a.plan[i]
		if c.Op == "-" || c.Op == "~" && (disabled[c.Name] && slices.Contains(c.Fields, "disabled") || slices.Contains(c.Fields, "password")) {
			ended, err := EndUser(a.ctx, a.tx, c.Name)
			if err != nil {
				return err
			}
			c.Ended = &ended
		}
	}
	return nil
}

// names refuses, against what the store keeps besides the file (an
// earlier file's records this one does not prune, the admin commands',
// a registered client, a person made by a federated sign-in), what
// Validate refuses within the file: each name this apply creates is
// store.NameFree's (not one differing only in case from a record of its
// kind, nor a person's and a client's of one name by any spelling), as
// the CLI's adds and a federated sign-in check theirs. It runs once the
// records are written, so that the names this apply prunes are gone and
// those it creates are checked against each other too. A name the store
// already held is not new: two names from before the rule keep working.
// A person and a client of one exact name are refused as before, new or
// not.
func (a *applier) names(f *File) error {
	n, err := store.ReadNames(a.ctx, a.tx)
	if err != nil {
		return err
	}
	created := map[[2]string]bool{}
	for _, c := range a.plan {
		if c.Op == "+" {
			created[[2]string{c.Kind, c.Name}] = true
		}
	}
	for _, c := range a.plan {
		if c.Op != "+" {
			continue
		}
		if _, ok := n[c.Kind]; ok {
			if err := n.Free(c.Kind, c.Name); err != nil {
				return err
			}
		}
	}
	exact := func(kind, name, other string) error {
		if created[[2]string{kind, name}] || !n.Has(other, name) {
			return nil
		}
		return fmt.Errorf("%q is a %s: a person and a client cannot share a name", name, other)
	}
	for _, u := range f.Users {
		if err := exact("user", u.Username, "client"); err != nil {
			return err
		}
	}
	for _, c := range f.Clients {
		if err := exact("client", c.ClientID, "user"); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) clients(f *File) error {
	want := make([]store.Client, 0, len(f.Clients))
	clear := map[string]string{}
	for _, c := range f.Clients {
		var tools []string
		if c.Tools != nil {
			tools = append([]string{}, sortedSet(*c.Tools)...)
		}
		want = append(want, store.Client{ClientID: c.ClientID, Name: c.Name, Kind: c.Kind, SecretHash: c.SecretHash,
			RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Tools: tools,
			FirstParty: c.FirstParty, Disabled: c.Disabled, Source: store.SourceTenant,
			IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg})
		if c.Secret != "" {
			clear[c.ClientID] = c.Secret
		}
	}
	first := len(a.plan)
	err := sync(a, "client", a.tx.Clients(), want, func(c store.Client) string { return c.ClientID },
		func(old, w store.Client) (store.Client, []string, error) {
			ch := diff("name", old.Name, w.Name, "kind", old.Kind, w.Kind, "redirect_uris", old.RedirectURIs, w.RedirectURIs,
				"post_logout_redirect_uris", old.PostLogoutRedirectURIs, w.PostLogoutRedirectURIs,
				"first_party", old.FirstParty, w.FirstParty, "disabled", old.Disabled, w.Disabled,
				"id_token_signed_response_alg", old.IDTokenSignedResponseAlg, w.IDTokenSignedResponseAlg)
			if (old.Tools == nil) != (w.Tools == nil) || !slices.Equal(old.Tools, w.Tools) {
				if old.ClientID != "" {
					ch = append(ch, "tools")
				}
			}
			hash, err := a.secret(old.SecretHash, w.SecretHash, clear[w.ClientID], "client "+w.ClientID)
			if err != nil {
				return old, nil, err
			}
			if w.Kind == store.KindNative {
				// A native app cannot keep a secret (Validate refuses one
				// in the file), so a client that becomes native keeps no
				// stored one either: whoever learned it could otherwise
				// still authenticate as the client.
				hash = ""
			}
			switch {
			case hash == old.SecretHash || old.ClientID == "":
			case hash == "":
				ch = append(ch, "secret removed")
			default:
				ch = append(ch, "secret")
			}
			w.SecretHash = hash
			if old.ClientID != "" && old.Source != store.SourceTenant {
				// A registered client named in the file becomes the file's.
				ch = append(ch, "source")
			}
			// What a registration limited the client to, the file cannot
			// say: it is kept, not dropped (the client would otherwise get
			// every grant of its kind, client_credentials and token
			// exchange included). An auth method goes with the secret.
			w.GrantTypes, w.Scopes = old.GrantTypes, old.Scopes
			if w.SecretHash != "" && old.TokenEndpointAuthMethod != "none" {
				// A public registration ("none") given a secret by the
				// file authenticates with it as any confidential client.
				w.TokenEndpointAuthMethod = old.TokenEndpointAuthMethod
			}
			w.CreatedAt, w.UpdatedAt = old.CreatedAt, old.UpdatedAt
			return w, ch, nil
		}, prunableClient)
	if err != nil {
		return err
	}
	// A client pruned keeps no grant, consent or token: a client added
	// again under its ID must be consented to afresh.
	for i := first; i < len(a.plan); i++ {
		if c := &a.plan[i]; c.Op == "-" {
			ended, err := EndClient(a.ctx, a.tx, c.Name)
			if err != nil {
				return err
			}
			c.ClientEnded = &ended
		}
	}
	return nil
}

func (a *applier) upstreams(f *File) error {
	want := make([]store.Upstream, 0, len(f.Upstreams))
	for _, u := range f.Upstreams {
		limit, _ := ParseCallTimeout(u.CallTimeout) // validated
		want = append(want, store.Upstream{Name: u.Name, Command: u.Command, URL: u.URL, HeadersEnv: u.HeadersEnv,
			Env: u.Env, PerCaller: u.PerCaller, CallTimeout: limit})
	}
	return sync(a, "upstream", a.tx.Upstreams(), want, func(u store.Upstream) string { return u.Name },
		func(old, w store.Upstream) (store.Upstream, []string, error) {
			ch := diff("command", old.Command, w.Command, "url", old.URL, w.URL, "headers_env", old.HeadersEnv, w.HeadersEnv,
				"env", old.Env, w.Env, "per_caller", old.PerCaller, w.PerCaller, "call_timeout", old.CallTimeout, w.CallTimeout)
			old.Name, old.Command, old.URL, old.HeadersEnv = w.Name, w.Command, w.URL, w.HeadersEnv
			old.Env, old.PerCaller, old.CallTimeout = w.Env, w.PerCaller, w.CallTimeout
			return old, ch, nil
		}, prunableUpstream)
}

func (a *applier) tools(f *File) error {
	want := make([]store.Tool, 0, len(f.Tools))
	for _, t := range f.Tools {
		st := store.Tool{Name: t.Name, Description: t.Description, Builtin: t.Builtin, Upstream: t.Upstream,
			UpstreamTool: t.UpstreamTool, Roles: sortedSet(t.Roles), When: strings.TrimSpace(t.When)}
		if t.HTTP != nil {
			st.HTTP = &store.HTTPBackend{Method: strings.ToUpper(t.HTTP.Method), URL: t.HTTP.URL, ClientID: t.HTTP.ClientID}
		}
		if t.InputSchema != nil {
			b, err := json.Marshal(t.InputSchema)
			if err != nil {
				return fmt.Errorf("tool %s: input_schema: %w", t.Name, err)
			}
			st.InputSchema = b
		}
		want = append(want, st)
	}
	return sync(a, "tool", a.tx.Tools(), want, func(t store.Tool) string { return t.Name },
		func(old, w store.Tool) (store.Tool, []string, error) {
			ch := diff("description", old.Description, w.Description, "builtin", old.Builtin, w.Builtin,
				"upstream", old.Upstream, w.Upstream, "upstream_tool", old.UpstreamTool, w.UpstreamTool,
				"http", old.HTTP, w.HTTP, "input_schema", old.InputSchema, w.InputSchema,
				"roles", old.Roles, w.Roles, "when", old.When, w.When)
			// The gateway's pin and approval status are its own: keep them.
			w.Status, w.PinnedHash, w.PinnedDefinition = old.Status, old.PinnedHash, old.PinnedDefinition
			w.PendingHash, w.PendingDefinition = old.PendingHash, old.PendingDefinition
			if w.Status == "" {
				w.Status = store.ToolActive
			}
			w.CreatedAt, w.UpdatedAt = old.CreatedAt, old.UpdatedAt
			return w, ch, nil
		}, prunableTool(f))
}

// The records Prune deletes when the file does not name them, kind by
// kind; Unnamed lists them for an apply without it.

func prunableRole(r store.Role) bool { return !r.BuiltIn }

func prunableUpstream(store.Upstream) bool { return true }

// prunableUser: people who signed in through a federated connection were
// made by that sign-in, not by a tenant file.
func prunableUser(u store.User) bool { return u.Attributes["idp"] == "" }

// prunableClient: a dynamically registered client is its registrant's.
func prunableClient(c store.Client) bool { return c.Source == store.SourceTenant || c.Source == "" }

// prunableTool: a tool an upstream offered on its own waits for an admin's
// approval; a tenant file that does not name it leaves it alone. One
// pinned before (declared, or approved) and withheld since its definition
// changed is the tenant's: kept, it would keep its roles, and have them
// again once its change is approved. One whose upstream the file prunes
// goes with it, as 'upstream remove' leaves none behind.
func prunableTool(f *File) func(store.Tool) bool {
	declared := map[string]bool{}
	for _, u := range f.Upstreams {
		declared[u.Name] = true
	}
	return func(t store.Tool) bool {
		return t.Status != store.ToolPending || t.PinnedHash != "" || !declared[t.Upstream]
	}
}

// Unnamed lists the records of st that f does not name and that an apply
// with Prune would delete, as the "-" changes it would plan (without what
// deleting them would end). An apply without Prune keeps them: saying so
// is the only way an admin who took a person out of the file learns that
// the person can still sign in. It reads st and changes nothing.
func Unnamed(ctx context.Context, st store.Tenant, f *File) (Plan, error) {
	named := func(n int, name func(int) string) map[string]bool {
		m := make(map[string]bool, n)
		for i := range n {
			m[name(i)] = true
		}
		return m
	}
	roles := named(len(f.Roles), func(i int) string { return f.Roles[i].Name })
	for _, r := range f.GrantedRoles() {
		roles[r] = true
	}
	// In the order an apply with Prune plans them.
	var plan Plan
	var err error
	if plan, err = unnamed(ctx, plan, "role", st.Roles(), roles,
		func(r store.Role) string { return r.Name }, prunableRole); err != nil {
		return nil, err
	}
	if plan, err = unnamed(ctx, plan, "upstream", st.Upstreams(), named(len(f.Upstreams), func(i int) string { return f.Upstreams[i].Name }),
		func(u store.Upstream) string { return u.Name }, prunableUpstream); err != nil {
		return nil, err
	}
	if plan, err = unnamed(ctx, plan, "client", st.Clients(), named(len(f.Clients), func(i int) string { return f.Clients[i].ClientID }),
		func(c store.Client) string { return c.ClientID }, prunableClient); err != nil {
		return nil, err
	}
	if plan, err = unnamed(ctx, plan, "tool", st.Tools(), named(len(f.Tools), func(i int) string { return f.Tools[i].Name }),
		func(t store.Tool) string { return t.Name }, prunableTool(f)); err != nil {
		return nil, err
	}
	return unnamed(ctx, plan, "user", st.Users(), named(len(f.Users), func(i int) string { return f.Users[i].Username }),
		func(u store.User) string { return u.Username }, prunableUser)
}

// unnamed is Unnamed for one collection: it adds to plan a "-" change
// of kind for each record of c that named does not hold and prunable
// takes.
func unnamed[T any](ctx context.Context, plan Plan, kind string, c store.Collection[T], named map[string]bool,
	key func(T) string, prunable func(T) bool) (Plan, error) {
	have, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range have {
		if k := key(h); !named[k] && prunable(h) {
			plan = append(plan, Change{Op: "-", Kind: kind, Name: k})
		}
	}
	return plan, nil
}

// hashSum is what a user's ImportedHash holds of a file's password_hash:
// enough to know it again, and nothing to crack.
func hashSum(h string) string {
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:])
}

// secret decides the hash to store: a hash given in the file wins; a clear
// secret keeps the stored hash when it already matches (so a second apply
// changes nothing) and is hashed otherwise; neither keeps what is stored.
func (a *applier) secret(stored, givenHash, clearText, who string) (string, error) {
	if h, ok := a.secrets[[2]string{who, stored}]; ok && givenHash == "" && clearText != "" {
		return h, nil
	}
	h, err := a.decideSecret(stored, givenHash, clearText, who)
	if err == nil && givenHash == "" && clearText != "" {
		if a.secrets == nil {
			a.secrets = map[[2]string]string{}
		}
		a.secrets[[2]string{who, stored}] = h
	}
	return h, err
}

func (a *applier) decideSecret(stored, givenHash, clearText, who string) (string, error) {
	switch {
	case givenHash != "":
		return givenHash, nil
	case clearText == "":
		return stored, nil
	case stored != "" && a.sec.Verify(clearText, stored):
		return stored, nil
	}
	h, err := a.sec.Hash(clearText)
	if err != nil {
		return "", fmt.Errorf("%s: hash secret: %w", who, err)
	}
	return h, nil
}

// The bounds of the audit retention. Below an hour, pruning would take
// records before anyone could read or stream them off the box; a hundred
// years is forever for any trail, and far from the ~292 years where a
// time.Duration overflows.
const (
	minRetention = time.Hour
	maxRetention = 100 * 365 * 24 * time.Hour
)

// parseRetention accepts Go durations ("720h") and days ("90d") from
// minRetention to maxRetention. The days are bounded before they are
// multiplied, so that no count wraps around to a short or negative
// retention.
func parseRetention(s string) (time.Duration, error) {
	bad := fmt.Errorf("%s: want a number of days (90d) or a duration (720h), from 1h to 100 years (36500d)", quoted(s))
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > int64(maxRetention/(24*time.Hour)) {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d < minRetention || d > maxRetention {
		return 0, bad
	}
	return d, nil
}

// Retention returns the configured retention, zero for forever (also for
// a value out of bounds, stored before they were checked: losing records
// to a misread setting is worse than keeping them).
func Retention(s string) time.Duration {
	d, _ := parseRetention(s)
	return d
}

// TakeRole takes the role name from every person, tool and federation
// connection of tx that holds it, and says whom it was taken from ("user
// alice", "tool refund", "connection corp"). A connection holds a role it
// gives by default (default_roles) or maps a claim's value to (role_map):
// left there, the next sign-in through it would give the role back, a
// role that no longer exists, and one created later under its name would
// be given unasked to whoever the upstream says.
func TakeRole(ctx context.Context, tx store.Tenant, name string) ([]string, error) {
	users, err := takeRole(ctx, tx.Users(), "user", name, func(u *store.User) (string, *[]string) { return u.Username, &u.Roles })
	if err != nil {
		return nil, err
	}
	tools, err := takeRole(ctx, tx.Tools(), "tool", name, func(t *store.Tool) (string, *[]string) { return t.Name, &t.Roles })
	if err != nil {
		return nil, err
	}
	conns, err := takeConnectionRole(ctx, tx, name)
	return append(append(users, tools...), conns...), err
}

// Grants reports whether the connection gives role: by default, or
// mapped from a value of its roles claim.
func (c Connection) Grants(role string) bool {
	if slices.Contains(c.DefaultRoles, role) {
		return true
	}
	for _, rs := range c.RoleMap {
		if slices.Contains(rs, role) {
			return true
		}
	}
	return false
}

// takeConnectionRole is TakeRole for the stored connections: role leaves
// every default_roles and role_map entry, and an entry that maps to
// nothing else goes with it.
func takeConnectionRole(ctx context.Context, tx store.Tenant, role string) ([]string, error) {
	cs, err := Connections(ctx, tx)
	if err != nil {
		return nil, err
	}
	var from []string
	for i := range cs {
		c := &cs[i]
		if !c.Grants(role) {
			continue
		}
		from = append(from, "connection "+c.Name)
		c.DefaultRoles = slices.DeleteFunc(slices.Clone(c.DefaultRoles), func(r string) bool { return r == role })
		for k, rs := range c.RoleMap {
			if rs = slices.DeleteFunc(slices.Clone(rs), func(r string) bool { return r == role }); len(rs) > 0 {
				c.RoleMap[k] = rs
			} else {
				delete(c.RoleMap, k)
			}
		}
	}
	if len(from) == 0 {
		return nil, nil
	}
	// Encoded as apply encodes the file's, so that applying a file
	// without the role afterwards changes nothing more.
	b, err := json.Marshal(cs)
	if err != nil {
		return nil, err
	}
	return from, tx.SetSetting(ctx, SettingConnections, string(b))
}

// takeRole is TakeRole for one collection; held names a record and points
// at its roles.
func takeRole[T any](ctx context.Context, c store.Collection[T], kind, role string, held func(*T) (string, *[]string)) ([]string, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var from []string
	for _, x := range all {
		key, roles := held(&x)
		if !slices.Contains(*roles, role) {
			continue
		}
		from = append(from, kind+" "+key)
		if err := c.Update(ctx, key, func(x T) (T, error) {
			_, roles := held(&x)
			*roles = slices.DeleteFunc(slices.Clone(*roles), func(r string) bool { return r == role })
			return x, nil
		}); err != nil {
			return nil, err
		}
	}
	return from, nil
}
