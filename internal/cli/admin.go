package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
func (m *multi) reset()             { *m = nil }

// list is a repeatable flag that also takes comma-separated values, so
// that its GATEHOUSE_<FLAG> variable can hold several.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) reset()         { *l = nil }
func (l *list) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// table prints rows under header, aligned. Every cell goes through
// safeText: names reach the store from outside the tenant's admins (a
// federated sign-in's username, a client ID metadata document's URL), and
// none of them may move the cursor, retitle the terminal or read backwards.
func table(env *Env, header string, rows [][]string) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	cells := make([]string, 0, 8)
	for _, r := range rows {
		cells = cells[:0]
		for _, c := range r {
			cells = append(cells, safeText(c))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

func readSecret(env *Env, what string) (string, error) {
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) && line == "" {
		return "", fmt.Errorf("read the %s from standard input: %w", what, err)
	}
	s := strings.TrimRight(line, "\r\n")
	if s == "" {
		// Nothing at all (no pipe, or </dev/null) is the usual mistake:
		// said as such, not as the reader's bare "EOF".
		return "", fmt.Errorf("the %s read from standard input is empty: pipe it in, one line", what)
	}
	return s, nil
}

func addSorted(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	list = append(list, v)
	sort.Strings(list)
	return list
}

func remove(list []string, v string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(x string) bool { return x == v })
}

// needRole checks that role exists. The admin role is built into every
// tenant, not only into one a tenant file made: named before anything made
// it (a tenant served without a tenant file names its first admin so), it
// is made here, in the change's transaction, and the group records it.
func needRole(ctx context.Context, st store.Tenant, role string) error {
	if _, err := st.Roles().Get(ctx, role); err != nil {
		if errors.Is(err, store.ErrNotFound) && role == store.AdminRole {
			return st.Roles().Create(ctx, config.BuiltInAdminRole())
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("unknown role %q (see 'gatehouse role list')", role)
		}
		return err
	}
	return nil
}

// adminCmd is a command that works on the open store.
type adminCmd struct {
	name, usage, summary string
	flags                func(fs *flag.FlagSet)
	// read, for a command that changes nothing (a listing), runs on the
	// store.
	read func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error
	// prepare, when set, runs first, outside the change's transaction:
	// what may wait for a person (a secret read from standard input, a
	// question at a terminal) must not hold the database's write lock,
	// which the server's audit writer needs too. It may record through
	// trail what it refuses.
	prepare func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error
	// run makes the change through tx, the transaction that also appends
	// its audit record: both are stored or neither is.
	run func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error
	// runRec, set instead of run, also records events of its own through
	// rec, in the same transaction. When it fails, what it recorded is
	// written after the rollback, on its own: it tells of a refusal.
	runRec func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant, rec audit.Recorder) error
	// detail, when set, adds to the change's audit record what the
	// command did besides changing the record (what removing a user
	// ended); it is read after run.
	detail func() map[string]any
}

// txRecorder keeps the events a change records, for its transaction.
type txRecorder struct{ events []audit.Event }

func (r *txRecorder) Record(_ context.Context, e audit.Event) error {
	r.events = append(r.events, e)
	return nil
}

// group makes a command group whose every command takes the store flags
// and runs with the store open. A change and its admin.change record
// (who, what, before → after, secrets redacted) are made in one
// transaction (audit.Log.InTx): when the trail cannot take the record,
// the change is not made either. What the change prints is printed once
// it is stored.
func group(name, summary string, subs ...*adminCmd) *command {
	g := &command{name: name, usage: "COMMAND [FLAGS]", summary: summary}
	for _, s := range subs {
		sf := &storeFlags{}
		g.sub = append(g.sub, &command{
			name: s.name, usage: s.usage, summary: s.summary,
			flags: func(fs *flag.FlagSet) {
				sf.declare(fs)
				if s.flags != nil {
					s.flags(fs)
				}
			},
			run: func(env *Env, fs *flag.FlagSet) (err error) {
				if err := checkPositional(fs, s.usage); err != nil {
					return err
				}
				if s.read != nil {
					// A listing changes nothing, so it makes no store where
					// a mistyped --data points (as the audit commands do
					// not): one made would list empty, and 'audit verify'
					// would then call its empty trail OK.
					if err := needStore(sf.o); err != nil {
						return err
					}
				}
				ctx, stop := signalContext()
				defer stop()
				st, _, trail, err := openAudit(ctx, *sf, s.read != nil)
				if err != nil {
					return err
				}
				defer st.Close()
				defer closeTrail(trail, &err)
				if s.read != nil {
					return s.read(ctx, env, fs, st)
				}
				if s.prepare != nil {
					if err := s.prepare(ctx, env, fs, st, trail); err != nil {
						return err
					}
				}
				var (
					out       bytes.Buffer
					rec       txRecorder
					changeErr error
				)
				txEnv := *env
				txEnv.Stdout = &out
				_, err = trail.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
					out.Reset()
					rec.events = nil
					// The tenant lock first, before any read a change rests
					// on: with several hosts on PostgreSQL, two commands
					// otherwise decide on what the other is changing (a
					// role removed while granted: a person holding a role
					// that no longer exists), and lock rows and the
					// revision in opposite orders (the gateway's imports
					// and approvals take the lock first too).
					if err := tx.Lock(ctx); err != nil {
						return nil, err
					}
					before, err := snapshot(ctx, tx, name, fs.Arg(0))
					if err != nil {
						return nil, err
					}
					// The built-in admin role may come into being with the
					// change (needRole): then it is a change of its own.
					_, err = tx.Roles().Get(ctx, store.AdminRole)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return nil, err
					}
					hadAdmin := err == nil
					if s.runRec != nil {
						changeErr = s.runRec(ctx, &txEnv, fs, tx, &rec)
					} else {
						changeErr = s.run(ctx, &txEnv, fs, tx)
					}
					if changeErr != nil {
						return nil, changeErr
					}
					if !hadAdmin && (name != "role" || fs.Arg(0) != store.AdminRole) {
						made, err := snapshot(ctx, tx, "role", store.AdminRole)
						if err != nil {
							return nil, err
						}
						if made.data != nil {
							rec.events = append(rec.events, adminChange("+", "role", store.AdminRole, nil, made.data, nil))
						}
					}
					after, err := snapshot(ctx, tx, name, fs.Arg(0))
					if err != nil {
						return nil, err
					}
					var fields []string
					if f := secretChanged(before, after); f != "" {
						fields = []string{f}
					} else if reflect.DeepEqual(before.data, after.data) {
						return rec.events, nil
					}
					op := "~"
					switch {
					case before.data == nil:
						op = "+"
					case after.data == nil:
						op = "-"
					}
					var extra map[string]any
					if s.detail != nil {
						extra = s.detail()
					}
					return append(rec.events, adminChange(op, name, fs.Arg(0), before.data, after.data, extra, fields...)), nil
				})
				if changeErr != nil {
					if len(rec.events) > 0 {
						if err := audit.RecordAll(ctx, trail, rec.events...); err != nil {
							return fmt.Errorf("%w (and its audit record failed: %v)", changeErr, err)
						}
					}
					return changeErr
				}
				if err != nil {
					return fmt.Errorf("nothing was changed: the change could not be audited: %w", err)
				}
				_, err = env.Stdout.Write(out.Bytes())
				return err
			},
		})
	}
	return g
}

// checkPositional checks the count of positional arguments against usage
// ("NAME ROLE [FLAGS]" wants two).
func checkPositional(fs *flag.FlagSet, usage string) error {
	var names []string
	for _, w := range strings.Fields(usage) {
		if w == strings.ToUpper(w) && !strings.HasPrefix(w, "[") && !strings.HasPrefix(w, "-") {
			names = append(names, w)
		}
	}
	_, err := args(fs, names...)
	return err
}

func userCommand() *command {
	var (
		email, pwStdin = new(string), new(bool)
		roles          multi
		ended          = new(store.UserEnded)
		// pwHash is the hash of the password read by prepare, or the
		// error reading or hashing it gave (reported where the
		// command used to read it).
		pwHash    = new(string)
		pwHashErr = new(error)
	)
	// readPassword reads and hashes the password before the change's
	// transaction: a person may be typing it.
	readPassword := func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error {
		pw, err := readSecret(env, "password")
		if err == nil {
			*pwHash, err = config.Argon2.Hash(pw)
		}
		*pwHashErr = err
		return nil
	}
	return group("user", "Manage the tenant's people.",
		&adminCmd{name: "list", summary: "List users", read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			us, err := st.Users().List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, u := range us {
				state := "active"
				if u.Disabled {
					state = "disabled"
				}
				rows = append(rows, []string{u.Username, u.Email, strings.Join(u.Roles, ","), state})
			}
			table(env, "USERNAME\tEMAIL\tROLES\tSTATE", rows)
			return nil
		}},
		&adminCmd{name: "add", usage: "USERNAME [FLAGS]", summary: "Add a user (password read from standard input with --password-stdin)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(email, "email", "", "e-mail `address`")
				fs.BoolVar(pwStdin, "password-stdin", false, "read the password from standard input")
				fs.Var(&roles, "role", "grant this `role` (repeatable)")
			},
			prepare: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error {
				if *pwStdin {
					return readPassword(ctx, env, fs, st, trail)
				}
				return nil
			},
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
				u := store.User{Username: fs.Arg(0), Email: *email}
				if msg := config.CheckName("username", u.Username); msg != "" {
					return errors.New(msg)
				}
				// The tenant file's check: the address is the email claim
				// of ID tokens and UserInfo.
				if u.Email != "" {
					if msg := config.CheckEmail(u.Email); msg != "" {
						return errors.New("--email " + msg)
					}
				}
				// Not a client's name, nor another person's but for case
				// (store.NameFree), as the tenant file has it.
				if err := store.NameFree(ctx, st, "user", u.Username); err != nil {
					return err
				}
				for _, r := range roles {
					if err := needRole(ctx, st, r); err != nil {
						return err
					}
					u.Roles = addSorted(u.Roles, r)
				}
				if *pwStdin {
					if *pwHashErr != nil {
						return *pwHashErr
					}
					u.PasswordHash = *pwHash
				}
				if err := st.Users().Create(ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ user %s\n", u.Username)
				return nil
			}},
		&adminCmd{name: "remove", usage: "USERNAME", summary: "Remove a user, ending their sessions, grants and consents",
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error {
				// Tokens name the user by username: what the user held must
				// end with them, or a new user of the same name inherits it.
				if err := tx.Users().Delete(ctx, fs.Arg(0)); err != nil {
					return err
				}
				var err error
				if *ended, err = config.EndUser(ctx, tx, fs.Arg(0)); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "- user %s (ended %s)\n", fs.Arg(0), ended)
				return nil
			},
			detail: func() map[string]any { return map[string]any{"ended": *ended} }},
		&adminCmd{name: "grant", usage: "USERNAME ROLE", summary: "Give a user a role", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error {
			if err := needRole(ctx, tx, fs.Arg(1)); err != nil {
				return err
			}
			held := false
			err := tx.Users().Update(ctx, fs.Arg(0), func(u store.User) (store.User, error) {
				held = slices.Contains(u.Roles, fs.Arg(1))
				u.Roles = addSorted(u.Roles, fs.Arg(1))
				return u, nil
			})
			switch {
			case err != nil:
			case held:
				// No "~" line: it would name a change the trail has no
				// record of, as there was none.
				fmt.Fprintf(env.Stdout, "user %s already has role %s: nothing changed\n", fs.Arg(0), fs.Arg(1))
			default:
				fmt.Fprintf(env.Stdout, "~ user %s (roles +%s)\n", fs.Arg(0), fs.Arg(1))
			}
			return err
		}},
		&adminCmd{name: "revoke", usage: "USERNAME ROLE", summary: "Take a role from a user", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			err := st.Users().Update(ctx, fs.Arg(0), func(u store.User) (store.User, error) {
				if !slices.Contains(u.Roles, fs.Arg(1)) {
					return u, fmt.Errorf("user %s does not have role %q", u.Username, fs.Arg(1))
				}
				u.Roles = remove(u.Roles, fs.Arg(1))
				return u, nil
			})
			if err == nil {
				fmt.Fprintf(env.Stdout, "~ user %s (roles -%s)\n", fs.Arg(0), fs.Arg(1))
			}
			return err
		}},
		&adminCmd{name: "passwd", usage: "USERNAME", summary: "Set a user's password, read from standard input, ending their sessions, grants and consents",
			prepare: readPassword,
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error {
				if *pwHashErr != nil {
					return *pwHashErr
				}
				// A new password is what an operator sets when the old one
				// leaked: what was won with it ends with it.
				err := tx.Users().Update(ctx, fs.Arg(0), func(u store.User) (store.User, error) {
					u.PasswordHash, u.ImportedHash = *pwHash, ""
					return u, nil
				})
				if err == nil {
					*ended, err = config.EndUser(ctx, tx, fs.Arg(0))
				}
				if err == nil {
					fmt.Fprintf(env.Stdout, "~ user %s (password; ended %s)\n", fs.Arg(0), ended)
				}
				return err
			},
			detail: func() map[string]any { return map[string]any{"ended": *ended} }},
	)
}

func roleCommand() *command {
	desc := new(string)
	return group("role", "Manage roles: tools are granted to roles, roles to people.",
		&adminCmd{name: "list", summary: "List roles", read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			rs, err := st.Roles().List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, r := range rs {
				kind := ""
				if r.BuiltIn {
					kind = "built-in"
				}
				rows = append(rows, []string{r.Name, kind, r.Description})
			}
			table(env, "ROLE\t\tDESCRIPTION", rows)
			return nil
		}},
		&adminCmd{name: "add", usage: "ROLE [FLAGS]", summary: "Add a role",
			flags: func(fs *flag.FlagSet) { fs.StringVar(desc, "description", "", "what the role is `for`") },
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
				if msg := config.CheckName("role", fs.Arg(0)); msg != "" {
					return errors.New(msg)
				}
				// Role names are lower-case: one differing only in case
				// can be only one stored before they were.
				if err := store.NameFree(ctx, st, "role", fs.Arg(0)); err != nil {
					return err
				}
				r := store.Role{Name: fs.Arg(0), Description: *desc}
				if r.Name == store.AdminRole {
					// Made by name, it is still the built-in role, as a
					// tenant file would make it: not an ordinary role that
					// only shares the name.
					r = config.BuiltInAdminRole()
					if *desc != "" {
						r.Description = *desc
					}
				}
				if err := st.Roles().Create(ctx, r); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ role %s\n", fs.Arg(0))
				return nil
			}},
		&adminCmd{name: "remove", usage: "ROLE", summary: "Remove a role, and take it from every user, tool and federation connection",
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error {
				name := fs.Arg(0)
				if name == store.AdminRole {
					return errors.New("the admin role is built in and cannot be removed")
				}
				if err := tx.Roles().Delete(ctx, name); err != nil {
					return err
				}
				// The group's snapshot of the role records whom it
				// was taken from; the output says so too.
				from, err := config.TakeRole(ctx, tx, name)
				if err != nil {
					return err
				}
				if len(from) > 0 {
					// Each is "KIND NAME", the name as the store holds it:
					// shown as the lists show it (safeText).
					for i, f := range from {
						if kind, n, ok := strings.Cut(f, " "); ok {
							from[i] = kind + " " + safeText(n)
						}
					}
					fmt.Fprintf(env.Stdout, "- role %s (taken from %s)\n", name, strings.Join(from, ", "))
				} else {
					fmt.Fprintf(env.Stdout, "- role %s\n", name)
				}
				return nil
			}},
	)
}
