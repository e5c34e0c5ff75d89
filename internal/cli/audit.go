package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// openAudit opens the store, its keys and its audit trail for a command.
// The trail writes no periodic checkpoints: the server does.
func openAudit(ctx context.Context, sf storeFlags) (*sqldb.DB, *keys.Manager, *audit.Log, error) {
	st, err := server.OpenStore(ctx, sf.o)
	if err != nil {
		return nil, nil, nil, err
	}
	ks, err := server.OpenKeys(ctx, st, sf.o)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, ks, audit.New(st, ks, &audit.Options{CheckpointInterval: -1}), nil
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
}

func (ff *filterFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&ff.f.Actor, "actor", "", "only this `person`")
	fs.StringVar(&ff.f.Agent, "agent", "", "only this agent (`client_id`)")
	fs.StringVar(&ff.f.Tool, "tool", "", "only this `tool`")
	fs.StringVar(&ff.f.Decision, "decision", "", "only `allow` or deny")
	fs.StringVar(&ff.f.Correlation, "correlation", "", "one tool call's (or login's) events: its correlation `id`")
	fs.StringVar(&ff.f.Session, "session", "", "one login session's events")
	fs.Var(&ff.types, "type", "only this event `type`, e.g. tool.decision (repeatable)")
	fs.StringVar(&ff.since, "since", "", "from this `time` (RFC 3339) or this long ago (e.g. 24h)")
	fs.StringVar(&ff.until, "until", "", "before this `time` (RFC 3339)")
	fs.Int64Var(&ff.f.After, "after", 0, "only records after this `seq` (the pagination cursor)")
}

func (ff *filterFlags) filter(now time.Time) (audit.Filter, error) {
	f := ff.f
	f.Types = ff.types
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

func auditCommand() *command {
	var (
		sf                  storeFlags
		ff                  filterFlags
		format, cpIn, cpOut string
		follow              bool
		n                   int
		jsonOut             bool
	)
	withAudit := func(fn func(ctx context.Context, l *audit.Log) error) error {
		ctx, stop := signalContext()
		defer stop()
		st, _, l, err := openAudit(ctx, sf)
		if err != nil {
			return err
		}
		defer st.Close()
		defer l.Close()
		return fn(ctx, l)
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
					return withAudit(func(ctx context.Context, l *audit.Log) error {
						var opts audit.VerifyOptions
						if cpIn != "" {
							fh, err := os.Open(cpIn)
							if err != nil {
								return err
							}
							defer fh.Close()
							if opts.Checkpoints, err = audit.ParseCheckpoints(fh); err != nil {
								return fmt.Errorf("%s: %w", cpIn, err)
							}
						}
						rep, err := l.Verify(ctx, &opts)
						if jsonOut {
							json.NewEncoder(env.Stdout).Encode(rep)
						} else {
							printReport(env, rep)
						}
						if err != nil && rep.OK {
							return err
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
					return withAudit(func(ctx context.Context, l *audit.Log) error {
						_, err := l.Export(ctx, env.Stdout, f)
						return err
					})
				}},
			{name: "tail", usage: "[FLAGS]", summary: "Print the last records, one line each; -f follows new ones",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					ff.declare(fs)
					fs.BoolVar(&follow, "f", false, "follow: keep printing records as they are written")
					fs.IntVar(&n, "n", 20, "how many of the last records to print first")
					fs.BoolVar(&jsonOut, "json", false, "print JSON lines instead of text")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					f, err := ff.filter(time.Now())
					if err != nil {
						return err
					}
					return withAudit(func(ctx context.Context, l *audit.Log) error {
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
					return withAudit(func(ctx context.Context, l *audit.Log) error {
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
					fs.StringVar(&cpOut, "o", "", "write to this `file` instead of standard output")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					return withAudit(func(ctx context.Context, l *audit.Log) error {
						if _, err := l.Checkpoint(ctx); err != nil {
							return err
						}
						w := env.Stdout
						if cpOut != "" {
							fh, err := os.OpenFile(cpOut, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
							if err != nil {
								return err
							}
							defer fh.Close()
							w = fh
						}
						_, err := l.ExportCheckpoints(ctx, w)
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
		return
	}
	fmt.Fprintf(env.Stdout, "BROKEN: %d problem(s) in %d records walked\n", len(rep.Problems), rep.Records)
	for _, p := range rep.Problems {
		fmt.Fprintf(env.Stdout, "  seq %d: %s: %s\n", p.Seq, audit.Safe(p.Kind), audit.Safe(p.Detail))
	}
}

// recordAdminChange writes an admin.change event: who did what to which
// record, before and after, with secret hashes redacted.
func recordAdminChange(ctx context.Context, trail audit.Recorder, op, kind, name string, before, after any) error {
	detail := map[string]any{"op": op, "kind": kind, "name": name}
	if before != nil {
		detail["before"] = before
	}
	if after != nil {
		detail["after"] = after
	}
	return trail.Record(ctx, audit.Event{Type: audit.AdminChange, Actor: cliActor(), Detail: detail})
}

// snapshot reads the named record for the audit trail, secrets redacted;
// nil when it does not exist.
func snapshot(ctx context.Context, st store.Tenant, kind, name string) any {
	var (
		v   any
		err error
	)
	switch kind {
	case "user":
		var u store.User
		u, err = st.Users().Get(ctx, name)
		if u.PasswordHash != "" {
			u.PasswordHash = "[redacted]"
		}
		v = u
	case "role":
		v, err = st.Roles().Get(ctx, name)
	case "client":
		var c store.Client
		c, err = st.Clients().Get(ctx, name)
		if c.SecretHash != "" {
			c.SecretHash = "[redacted]"
		}
		v = c
	case "tool":
		v, err = st.Tools().Get(ctx, name)
	case "upstream":
		v, err = st.Upstreams().Get(ctx, name)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	// Round-trip through JSON so the trail holds plain data.
	b, _ := json.Marshal(v)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// applyAudited applies a tenant file and writes one admin.change per
// planned change, before → after, secrets redacted.
func applyAudited(ctx context.Context, st store.Store, trail audit.Recorder, actor string, f *config.File, opts *config.ApplyOptions) (config.Plan, error) {
	if opts != nil && opts.DryRun {
		return config.Apply(ctx, st, f, config.Argon2, opts)
	}
	dry := config.ApplyOptions{DryRun: true}
	if opts != nil {
		dry.Prune = opts.Prune
	}
	planned, err := config.Apply(ctx, st, f, config.Argon2, &dry)
	if err != nil {
		return nil, err
	}
	before := make([]any, len(planned))
	for i, c := range planned {
		before[i] = snapshot(ctx, st, c.Kind, c.Name)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, opts)
	if err != nil {
		return nil, err
	}
	for i, c := range planned {
		detail := map[string]any{"op": c.Op, "kind": c.Kind, "name": c.Name, "source": "tenant file"}
		if len(c.Fields) > 0 {
			detail["fields"] = c.Fields
		}
		if before[i] != nil {
			detail["before"] = before[i]
		}
		if after := snapshot(ctx, st, c.Kind, c.Name); after != nil {
			detail["after"] = after
		}
		if err := trail.Record(ctx, audit.Event{Type: audit.AdminChange, Actor: actor, Detail: detail}); err != nil {
			return plan, fmt.Errorf("the change was applied but not audited: %w", err)
		}
	}
	return plan, nil
}
