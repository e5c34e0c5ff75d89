package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// openAudit opens the store, its keys and its audit trail for a command.
// The trail writes no periodic checkpoints: the server does. A command
// that only looks (readOnly) opens the keys read-only: it must change
// nothing, not even archive a key whose publication ended while no
// server ran, which is the server's (or the next change's) to do.
func openAudit(ctx context.Context, sf storeFlags, readOnly bool) (*sqldb.DB, *keys.Manager, *audit.Log, error) {
	st, err := server.OpenStore(ctx, sf.o)
	if err != nil {
		return nil, nil, nil, err
	}
	openKeys := server.OpenKeys
	if readOnly {
		openKeys = server.OpenKeysReadOnly
	}
	ks, err := openKeys(ctx, st, sf.o)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, ks, audit.New(st, ks, &audit.Options{CheckpointInterval: -1}), nil
}

// withAuditStore opens the store, its keys and its audit trail for a
// command, runs fn and closes them (the trail first, so that its final
// checkpoint is written).
func withAuditStore(sf storeFlags, fn func(ctx context.Context, st *sqldb.DB, ks *keys.Manager, trail *audit.Log) error) (err error) {
	return withAuditStoreAs(sf, false, fn)
}

// withAuditStoreAs is withAuditStore, the keys opened read-only when
// readOnly (see openAudit).
func withAuditStoreAs(sf storeFlags, readOnly bool, fn func(ctx context.Context, st *sqldb.DB, ks *keys.Manager, trail *audit.Log) error) (err error) {
	ctx, stop := signalContext()
	defer stop()
	st, ks, trail, err := openAudit(ctx, sf, readOnly)
	if err != nil {
		return err
	}
	defer st.Close()
	defer closeTrail(trail, &err)
	return fn(ctx, st, ks, trail)
}

// closeTrail closes a command's trail, writing its final checkpoint, and
// adds a failure to *err: what the command changed is committed with its
// records, but the checkpoint that seals them is missing, which the
// command's exit status and message must say rather than keep quiet.
func closeTrail(trail *audit.Log, err *error) {
	if cerr := trail.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("the audit trail's final checkpoint could not be written "+
			"(what the command did is recorded; run gatehouse audit verify): %w", cerr))
	}
}

// errNoStore is needStore's refusal of a folder or database that holds
// no store at all.
var errNoStore = errors.New("holds no Gatehouse store")

// needStore refuses a data folder that holds no Gatehouse store. Commands
// that only read the trail call it first: opening would create a store
// and a master key where a mistyped --data points, and 'audit verify'
// would then call its empty trail OK. The same holds for a PostgreSQL
// database (or schema) that exists but holds no store.
func needStore(o server.StoreOptions) error {
	if o.DatabaseURL != "" {
		if err := server.CheckDatabaseURL(o.DatabaseURL); err != nil {
			return err
		}
		// A wrong database name that exists connects all the same.
		has, err := postgres.HasStore(context.Background(), o.DatabaseURL)
		if err == nil && !has {
			err = fmt.Errorf("database %s %w: check --database", postgres.Redact(o.DatabaseURL), errNoStore)
		}
		return err
	}
	dir := cmp.Or(o.DataDir, server.DefaultDataDir)
	db := filepath.Join(dir, sqlite.FileName)
	fi, err := os.Stat(db)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0:
		return fmt.Errorf("data folder %s %w (no %s): check --data", dir, errNoStore, sqlite.FileName)
	case err != nil:
		return fmt.Errorf("data folder %s: %w", dir, err)
	}
	if o.MasterKey != "" {
		return nil
	}
	_, err = os.Stat(filepath.Join(dir, keys.MasterKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data folder %s has no %s: set GATEHOUSE_MASTER_KEY to the store's master key", dir, keys.MasterKeyFile)
	}
	return err
}

// cliActor names the person at the terminal in the audit trail.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

type filterFlags struct {
	f            audit.Filter
	types        multi
	since, until string
	fs           *flag.FlagSet
}

func (ff *filterFlags) declare(fs *flag.FlagSet) {
	ff.fs = fs
	fs.StringVar(&ff.f.Actor, "actor", "", "only this `person`")
	fs.StringVar(&ff.f.Agent, "agent", "", "only this agent (`client_id`)")
	fs.StringVar(&ff.f.Tool, "tool", "", "only this `tool`")
	fs.StringVar(&ff.f.Decision, "decision", "", "only `allow` or deny")
	fs.StringVar(&ff.f.Correlation, "correlation", "", "one tool call's (or login's) events: its correlation `id`")
	fs.StringVar(&ff.f.Session, "session", "", "one login session's events")
	fs.Var(&ff.types, "type", "only this event `type`, e.g. tool.decision (repeatable)")
	fs.StringVar(&ff.since, "since", "", "from this `time` (RFC 3339) or this long ago (e.g. 24h)")
	fs.StringVar(&ff.until, "until", "", "before this `time` (RFC 3339) or this long ago (e.g. 1h)")
	fs.Int64Var(&ff.f.After, "after", 0, "only records after this `seq` (the pagination cursor)")
}

func (ff *filterFlags) filter(now time.Time) (audit.Filter, error) {
	f := ff.f
	f.Types = ff.types
	// A filter given empty would filter by nothing: the whole trail
	// instead of what was meant (a variable left unset, say).
	var empty string
	ff.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "actor", "agent", "tool", "decision", "correlation", "session", "type", "since", "until":
			if empty == "" && fl.Value.String() == "" {
				empty = fl.Name
			}
		}
	})
	if empty != "" {
		return f, fmt.Errorf("--%s is empty: leave it out not to filter by it", empty)
	}
	var err error
	if f.Since, err = audit.ParseTime(ff.since, now); err != nil {
		return f, fmt.Errorf("--since %w", err)
	}
	if f.Until, err = audit.ParseTime(ff.until, now); err != nil {
		return f, fmt.Errorf("--until %w", err)
	}
	if err := f.Check(); err != nil {
		return f, fmt.Errorf("--%w", err)
	}
	return f, nil
}

// maxTail is the most records 'audit tail' prints before following.
const maxTail = 1000

func auditCommand() *command {
	var (
		sf                  storeFlags
		ff                  filterFlags
		format, cpIn, cpOut string
		follow              bool
		n                   int
		jsonOut             bool
	)
	// withAudit runs fn on the trail; all but 'audit checkpoints', which
	// signs one, only look (see openAudit).
	withAudit := func(readOnly bool, fn func(ctx context.Context, l *audit.Log) error) error {
		if err := needStore(sf.o); err != nil {
			return err
		}
		return withAuditStoreAs(sf, readOnly, func(ctx context.Context, _ *sqldb.DB, _ *keys.Manager, l *audit.Log) error {
			return fn(ctx, l)
		})
	}
	return &command{
		name: "audit", usage: "COMMAND [FLAGS]", summary: "Read and check the audit trail.",
		sub: []*command{
			{name: "verify", usage: "[FLAGS]", summary: "Check the hash chain, its signatures and checkpoints; name the first record that broke",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					fs.StringVar(&cpIn, "checkpoints", "", "also hold the log to the checkpoints in this `file` (an off-box copy from 'audit checkpoints')")
					fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					return withAudit(true, func(ctx context.Context, l *audit.Log) error {
						var opts audit.VerifyOptions
						if cpIn != "" {
							fh, err := os.Open(cpIn)
							if err != nil {
								return fmt.Errorf("--checkpoints: %w", err)
							}
							defer fh.Close()
							if opts.Checkpoints, err = audit.ParseCheckpoints(fh); err != nil {
								return fmt.Errorf("%s: %w", cpIn, err)
							}
							// An OK would read as "checked against the
							// copy" when nothing was.
							if len(opts.Checkpoints) == 0 {
								return fmt.Errorf("--checkpoints: %s holds no checkpoint (write it with 'gatehouse audit checkpoints -o')", cpIn)
							}
						}
						rep, err := l.Verify(ctx, &opts)
						// A broken chain is in the report. Any other error
						// means the trail could not be read: a report of
						// what was walked before it would read as a verdict.
						var readErr error
						if err != nil && !errors.Is(err, audit.ErrChainBroken) {
							readErr = fmt.Errorf("the audit trail could not be verified: %w", err)
						}
						switch {
						case jsonOut:
							out := struct {
								audit.Report
								Error string `json:"error,omitempty"`
							}{Report: rep}
							if readErr != nil {
								out.Error = readErr.Error()
							}
							// Escaped as tail --json and export are: a
							// checkpoint's kind or a key's ID comes from
							// the database, and reaches a terminal.
							b, err := json.Marshal(out)
							if err != nil {
								return err
							}
							env.Stdout.Write(append(audit.EscapeInvisible(b), '\n'))
						case readErr == nil:
							printReport(env, rep)
						}
						if readErr != nil {
							return readErr
						}
						if !rep.OK {
							return exitError{code: 1, err: errors.New("the audit trail does not verify")}
						}
						return nil
					})
				}},
			{name: "export", usage: "[FLAGS]", summary: "Write matching records as JSON lines to standard output",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					ff.declare(fs)
					fs.StringVar(&format, "format", "jsonl", "output `format`: jsonl")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					if format != "jsonl" {
						return fmt.Errorf("--format %q: only jsonl is supported", format)
					}
					f, err := ff.filter(time.Now())
					if err != nil {
						return err
					}
					return withAudit(true, func(ctx context.Context, l *audit.Log) error {
						_, err := l.Export(ctx, env.Stdout, f)
						return err
					})
				}},
			{name: "tail", usage: "[FLAGS]", summary: "Print the last records, one line each; -f follows new ones",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					ff.declare(fs)
					fs.BoolVar(&follow, "f", false, "follow: keep printing records as they are written")
					fs.IntVar(&n, "n", 20, "how many of the last records to print first (0 to 1000)")
					fs.BoolVar(&jsonOut, "json", false, "print JSON lines instead of text")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					// Log.Tail reads the last records in one query of at
					// most maxTail: more is export's job, which streams.
					if n < 0 || n > maxTail {
						return fmt.Errorf("-n %d: want 0 to %d (for more, use 'gatehouse audit export')", n, maxTail)
					}
					f, err := ff.filter(time.Now())
					if err != nil {
						return err
					}
					return withAudit(true, func(ctx context.Context, l *audit.Log) error {
						enc := json.NewEncoder(env.Stdout)
						return l.Tail(ctx, f, n, follow, func(e audit.Entry) error {
							if jsonOut {
								return enc.Encode(e)
							}
							_, err := fmt.Fprintln(env.Stdout, audit.Line(e))
							return err
						})
					})
				}},
			{name: "trace", usage: "CORRELATION [FLAGS]", summary: "Print one tool call's whole story: the sign-in, the token, then the call's records",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					fs.BoolVar(&jsonOut, "json", false, "print JSON lines instead of text")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					rest, err := args(fs, "CORRELATION")
					if err != nil {
						return err
					}
					return withAudit(true, func(ctx context.Context, l *audit.Log) error {
						entries, err := l.Trace(ctx, rest[0])
						if err != nil {
							return err
						}
						if len(entries) == 0 {
							return exitError{code: 1, err: fmt.Errorf("no record has the correlation %q", rest[0])}
						}
						enc := json.NewEncoder(env.Stdout)
						for _, e := range entries {
							if jsonOut {
								err = enc.Encode(e)
							} else {
								_, err = fmt.Fprintln(env.Stdout, audit.Line(e))
							}
							if err != nil {
								return err
							}
						}
						return nil
					})
				}},
			{name: "checkpoints", usage: "[FLAGS]", summary: "Write a new signed checkpoint, then every checkpoint as JSON lines, for an off-box copy",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					fs.StringVar(&cpOut, "o", "", "write to this `file` instead of standard output; the checkpoints it holds already are kept")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					return withAudit(false, func(ctx context.Context, l *audit.Log) error {
						// A head no new checkpoint can be signed for (a
						// record appended behind the writers' backs) still
						// has the checkpoints stored before it copied: the
						// off-box copy is what shows the tampering later.
						_, cpErr := l.Checkpoint(ctx)
						var leftOut int
						var err error
						if cpOut == "" {
							_, leftOut, err = l.ExportCheckpoints(ctx, env.Stdout)
						} else {
							err = exportCheckpointsTo(ctx, l, cpOut, &leftOut)
						}
						if err == nil && leftOut > 0 {
							fmt.Fprintf(env.Stderr, "warning: %d stored checkpoints do not verify and were left out of the copy: run gatehouse audit verify\n", leftOut)
						}
						if err == nil && cpErr != nil {
							err = fmt.Errorf("the stored checkpoints were copied, but no new checkpoint was signed: %w", cpErr)
						}
						return err
					})
				}},
		},
	}
}

func printReport(env *Env, rep audit.Report) {
	if rep.OK {
		fmt.Fprintf(env.Stdout, "OK: %d records (seq %d–%d), %d batch signatures and %d checkpoints verified",
			rep.Records, rep.First, rep.Last, rep.Signatures, rep.Checkpoints)
		if rep.Anchor != nil {
			fmt.Fprintf(env.Stdout, "; the kept part starts after the pruning checkpoint at seq %d", rep.Anchor.Seq)
		}
		fmt.Fprintln(env.Stdout)
		if rep.Unverifiable > 0 {
			fmt.Fprintf(env.Stdout, "WARNING: %d signature(s) are by keys this store does not know, and were not checked\n", rep.Unverifiable)
		}
		if rep.Leftovers > 0 {
			fmt.Fprintf(env.Stdout, "NOTE: %d record(s) before the pruning checkpoint are left of a pruning that did not finish, each still linking to it; the next pruning deletes them\n", rep.Leftovers)
		}
		printWithdrawn(env, rep)
		return
	}
	fmt.Fprintf(env.Stdout, "BROKEN: %d problem(s) in %d records walked\n", len(rep.Problems), rep.Records)
	for _, p := range rep.Problems {
		fmt.Fprintf(env.Stdout, "  seq %d: %s: %s\n", p.Seq, audit.Safe(p.Kind), audit.Safe(p.Detail))
	}
	printWithdrawn(env, rep)
}

// printWithdrawn names the withdrawn keys (keys rotate --now) that
// verified signatures rest on: what they signed after their withdrawal is
// refused, but whoever the key leaked to could date a forgery before.
func printWithdrawn(env *Env, rep audit.Report) {
	for _, w := range rep.WithdrawnKeys {
		fmt.Fprintf(env.Stdout, "WARNING: key %s was withdrawn at %s: %d batch signature(s) and %d checkpoint(s) by it, on record %d to record %d, "+
			"verify only as far as the key was not yet leaked when they were made (what it signed after its withdrawal is refused)\n",
			audit.Safe(w.Kid), w.Withdrawn.Format(time.RFC3339), w.Signatures, w.Checkpoints, w.First, w.Last)
	}
}

// adminChange is an admin.change event: who did what to which record,
// before and after, with secret hashes redacted, extra detail (what
// removing a user ended), and fields, when given, naming the fields that
// changed (as a tenant file's plan does).
func adminChange(op, kind, name string, before, after, extra map[string]any, fields ...string) audit.Event {
	detail := map[string]any{"op": op, "kind": kind, "name": name}
	for k, v := range extra {
		detail[k] = v
	}
	if len(fields) > 0 {
		detail["fields"] = fields
	}
	if before != nil {
		detail["before"] = before
	}
	if after != nil {
		detail["after"] = after
	}
	return audit.Event{Type: audit.AdminChange, Actor: cliActor(), Detail: detail}
}

// view is a record as the audit trail shows it.
type view struct {
	data map[string]any // the record as plain data, secrets redacted; nil when it does not exist
	// secret is the hash redacted from data, compared with the other
	// view's and never recorded; secretName names it as a tenant file's
	// plan does ("password", "secret").
	secretName, secret string
}

// secretChanged names the secret that differs between before and after,
// or is "". A hash reads "[redacted]" before and after (the trail redacts
// secret-looking keys whatever is written), so without this a new
// password would look like no change at all.
func secretChanged(before, after view) string {
	if before.secret != "" && after.secret != "" && before.secret != after.secret {
		return after.secretName
	}
	return ""
}

// snapshot reads the named record for the audit trail, secrets redacted;
// its data is nil when the record does not exist.
//
// A read that fails for another reason than the record's absence is an
// error: taken for absence, it would record a change as an addition or a
// removal, or (both reads failing) record none of a change made.
func snapshot(ctx context.Context, st store.Tenant, kind, name string) (view, error) {
	var (
		out view
		v   any
		err error
	)
	switch kind {
	case "user":
		var u store.User
		u, err = st.Users().Get(ctx, name)
		out.secretName, out.secret = "password", u.PasswordHash
		if u.PasswordHash != "" {
			u.PasswordHash = audit.Redacted
		}
		// The digest of an imported hash tells whether the person's is
		// a given one: as secret as the hash.
		if u.ImportedHash != "" {
			u.ImportedHash = audit.Redacted
		}
		// So is the device stamp a sign-in's rehash kept, which names
		// the hash by a digest.
		if u.DeviceStamp != "" {
			u.DeviceStamp = audit.Redacted
		}
		v = u
	case "role":
		v, err = roleView(ctx, st, name)
	case "client":
		var c store.Client
		c, err = st.Clients().Get(ctx, name)
		out.secretName, out.secret = "secret", c.SecretHash
		if c.SecretHash != "" {
			c.SecretHash = audit.Redacted
		}
		v = c
	case "tool":
		var t store.Tool
		t, err = st.Tools().Get(ctx, name)
		if t.HTTP != nil {
			h := *t.HTTP
			h.URL = store.RedactURL(h.URL)
			t.HTTP = &h
		}
		v = t
	case "upstream":
		// Headers and environment are stored as variable names only:
		// their values never are, so only the URL and the command's
		// arguments can carry a secret.
		var u store.Upstream
		u, err = st.Upstreams().Get(ctx, name)
		u.URL = store.RedactURL(u.URL)
		u.Command = store.RedactArgs(u.Command)
		// Header → variable pairs, as a list: the trail hides the value
		// of a key such as Authorization, and these values are only the
		// names of variables, which the admin should see change.
		type headerEnv struct {
			Header string `json:"header"`
			Env    string `json:"env"`
		}
		hv := struct {
			store.Upstream
			HeadersEnv []headerEnv `json:"headers_env,omitempty"`
		}{Upstream: u}
		for _, h := range slices.Sorted(maps.Keys(u.HeadersEnv)) {
			hv.HeadersEnv = append(hv.HeadersEnv, headerEnv{Header: h, Env: u.HeadersEnv[h]})
		}
		v = hv
	case "setting":
		var val string
		val, err = st.Setting(ctx, name)
		v = map[string]string{"name": name, "value": val}
	case "connection":
		v, err = connectionView(ctx, st, name)
	default:
		return view{}, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return view{}, nil
	}
	if err != nil {
		return view{}, fmt.Errorf("read %s %s for its audit record: %w", kind, name, err)
	}
	// Round-trip through JSON so the trail holds plain data.
	b, _ := json.Marshal(v)
	json.Unmarshal(b, &out.data)
	return out, nil
}

// roleView is a role with the users who hold it and the tools granted to
// it and the federation connections that give it, so that removing a
// role records what it was taken from.
func roleView(ctx context.Context, st store.Tenant, name string) (any, error) {
	r, err := st.Roles().Get(ctx, name)
	if err != nil {
		return nil, err
	}
	v := struct {
		store.Role
		Users []string `json:"users,omitempty"`
		Tools []string `json:"tools,omitempty"`
		// Connections give the role (default_roles, role_map).
		Connections []string `json:"connections,omitempty"`
	}{Role: r}
	us, err := st.Users().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if slices.Contains(u.Roles, name) {
			v.Users = append(v.Users, u.Username)
		}
	}
	ts, err := st.Tools().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if slices.Contains(t.Roles, name) {
			v.Tools = append(v.Tools, t.Name)
		}
	}
	cs, err := config.Connections(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Grants(name) {
			v.Connections = append(v.Connections, c.Name)
		}
	}
	return v, nil
}

// connectionView is the named federation connection (which holds the
// name of its secret's variable, never the secret).
func connectionView(ctx context.Context, st store.Tenant, name string) (any, error) {
	cs, err := config.Connections(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, store.ErrNotFound
}

// rotationDetail is the detail of a keys.rotated event: the keys that
// signed before (retired now, or when the new ones activate) and the new
// ones, by ID and algorithm, with "from" their activation when it is
// ahead (a pre-published key), never their material.
func rotationDetail(before, after []keys.Info) map[string]any {
	signing := func(infos []keys.Info) []map[string]string {
		var out []map[string]string
		for _, k := range infos {
			if k.Retired.IsZero() {
				d := map[string]string{"kid": k.ID, "alg": k.Alg}
				if !k.Activates.IsZero() {
					d["from"] = k.Activates.UTC().Format(time.RFC3339)
				}
				out = append(out, d)
			}
		}
		return out
	}
	return map[string]any{"retired": signing(before), "active": signing(after)}
}

// applyAudited applies a tenant file and writes one admin.change per
// planned change, before → after, secrets redacted (the plan's fields
// name a secret that changed).
// demoSetting marks a store the demo seeded (gatehouse demo), whose people
// have passwords anyone can read in the README; demoActor is the demo's
// own apply.
const (
	demoSetting = "demo"
	demoActor   = "gatehouse demo"
)

// keptDemoPassword returns a demo user the file names without a password
// (so the stored one, published in the README, would stay), or "".
func keptDemoPassword(f *config.File) string {
	demo, err := config.Parse(strings.NewReader(demoTenant), "demo.yaml")
	if err != nil {
		return ""
	}
	for _, u := range f.Users {
		if u.Password != "" || u.PasswordHash != "" {
			continue
		}
		if slices.ContainsFunc(demo.Users, func(d config.User) bool { return d.Username == u.Username }) {
			return u.Username
		}
	}
	return ""
}

// errDemoStore refuses to apply a tenant file over the demo's people: they
// would stay, the demo's admin with its published password included.
var errDemoStore = errors.New("this data folder holds the demo tenant, whose passwords are published in the README: " +
	"use another --data folder for a real tenant, or apply the file with --prune to remove the demo's people and apps")

// txTrail is what applying a tenant file needs of the audit trail: a
// change and its records in one transaction (*audit.Log).
type txTrail interface {
	InTx(ctx context.Context, change func(tx store.Tenant) ([]audit.Event, error)) (int64, error)
}

func applyAudited(ctx context.Context, st store.Store, trail txTrail, actor string, f *config.File, opts *config.ApplyOptions) (config.Plan, error) {
	demo := false
	if actor != demoActor {
		v, err := st.Setting(ctx, demoSetting)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if demo = v != ""; demo && (opts == nil || !opts.Prune) {
			return nil, errDemoStore
		}
		if demo {
			if name := keptDemoPassword(f); name != "" {
				return nil, fmt.Errorf("the file keeps the demo's user %s without a password, so %s would keep the one the README publishes: "+
					"give %s a password (or a password_hash), or leave it out", name, name, name)
			}
		}
	}
	if opts != nil && opts.DryRun {
		dry := *opts
		dry.RenameTenant = dry.RenameTenant || demo // as below
		return config.Apply(ctx, st, f, config.Argon2, &dry)
	}
	// The plan, made first on its own (and rolled back), names the records
	// to snapshot before the change; the change and its records are then
	// one transaction. The secrets are hashed and checked once, before
	// both: not in transactions that hold the tenant's lock.
	decided, err := config.DecideSecrets(ctx, st, f, config.Argon2)
	if err != nil {
		return nil, err
	}
	real := config.ApplyOptions{Decided: decided}
	if opts != nil {
		real.Prune, real.Sealer, real.RenameTenant = opts.Prune, opts.Sealer, opts.RenameTenant
	}
	if demo {
		// Pruned (required above), the demo's tenant is replaced, its
		// name with it, as errDemoStore offers.
		real.RenameTenant = true
	}
	dry := real
	dry.DryRun = true
	// Another writer may change the store between the plan and the change
	// (another replica applying the same file at its start, say): the plan
	// is then made again, a few times, rather than the apply refused.
	for try := 1; ; try++ {
		plan, err := applyPlanned(ctx, st, trail, actor, f, &dry, &real, demo)
		if !errors.Is(err, errPlanChanged) || try == 3 {
			return plan, err
		}
	}
}

// errPlanChanged is applyPlanned's refusal when the store changed between
// the plan and the change.
var errPlanChanged = errors.New("the store changed while the plan was made: apply the file again")

// applyPlanned is one try of applyAudited: the plan made with dry, then
// the change made with real and its records, in one transaction.
func applyPlanned(ctx context.Context, st store.Store, trail txTrail, actor string, f *config.File, dry, real *config.ApplyOptions, demo bool) (config.Plan, error) {
	planned, err := config.Apply(ctx, st, f, config.Argon2, dry)
	if err != nil {
		return nil, err
	}
	var plan config.Plan
	_, err = trail.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
		// The tenant's lock before the snapshots, as the admin commands
		// take it: read before it, on PostgreSQL, "before" could be what a
		// change committed by another host meanwhile replaced, not what
		// this apply changed.
		if err := tx.Lock(ctx); err != nil {
			return nil, err
		}
		before := make([]view, len(planned))
		var err error
		for i, c := range planned {
			if before[i], err = snapshot(ctx, tx, c.Kind, c.Name); err != nil {
				return nil, err
			}
		}
		if plan, err = config.ApplyIn(ctx, tx, f, config.Argon2, real); err != nil {
			return nil, err
		}
		if !samePlan(plan, planned) {
			// Another writer changed the store in between: the records
			// would not say what this change did.
			return nil, errPlanChanged
		}
		if demo {
			// Pruned: the demo's people and apps are gone with this apply.
			if err := tx.SetSetting(ctx, demoSetting, ""); err != nil {
				return nil, err
			}
		}
		// What removing or disabling a user, or removing a client, ended,
		// as the change itself counted it.
		ended := map[string]any{}
		for _, c := range plan {
			switch {
			case c.Ended != nil:
				ended[c.Op+c.Kind+" "+c.Name] = *c.Ended
			case c.ClientEnded != nil:
				ended[c.Op+c.Kind+" "+c.Name] = *c.ClientEnded
			}
		}
		events := make([]audit.Event, 0, len(planned))
		for i, c := range planned {
			detail := map[string]any{"op": c.Op, "kind": c.Kind, "name": c.Name, "source": "tenant file"}
			if len(c.Fields) > 0 {
				detail["fields"] = c.Fields
			}
			if e, ok := ended[c.Op+c.Kind+" "+c.Name]; ok {
				detail["ended"] = e
			}
			after, err := snapshot(ctx, tx, c.Kind, c.Name)
			if err != nil {
				return nil, err
			}
			if before[i].data != nil {
				detail["before"] = before[i].data
			}
			if after.data != nil {
				detail["after"] = after.data
			}
			events = append(events, audit.Event{Type: audit.AdminChange, Actor: actor, Detail: detail})
		}
		return events, nil
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// samePlan reports whether a and b make the same changes to the same
// records.
func samePlan(a, b config.Plan) bool {
	return slices.EqualFunc(a, b, func(x, y config.Change) bool {
		return x.Op == y.Op && x.Kind == y.Kind && x.Name == y.Name && slices.Equal(x.Fields, y.Fields)
	})
}

// exportCheckpointsTo writes the trail's checkpoints to the file path,
// keeping every line the file holds already that the trail no longer
// does: run on a schedule into one off-box file, an export after an
// attacker deleted checkpoints (and the records they covered) must not
// replace the copy that still shows them. The file is replaced whole, by
// rename, only once the new content is written: a failed export leaves
// the old copy as it was.
// The count of stored checkpoints left out (ExportCheckpoints) goes to
// *leftOut.
func exportCheckpointsTo(ctx context.Context, l *audit.Log, path string, leftOut *int) error {
	var fresh bytes.Buffer
	_, n, err := l.ExportCheckpoints(ctx, &fresh)
	*leftOut = n
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, line := range strings.Split(fresh.String(), "\n") {
		have[line] = true
	}
	var out bytes.Buffer
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, line := range strings.Split(string(old), "\n") {
		if line = strings.TrimSpace(line); line != "" && !have[line] {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	out.Write(fresh.Bytes())
	tmp, err := os.CreateTemp(filepath.Dir(path), ".checkpoints-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
