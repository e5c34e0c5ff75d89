package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// list is a repeatable flag that also takes comma-separated values, so
// that its GATEHOUSE_<FLAG> variable can hold several.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func table(env *Env, header string, rows [][]string) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func readSecret(env *Env, what string) (string, error) {
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read the %s from standard input: %w", what, err)
	}
	s := strings.TrimRight(line, "\r\n")
	if s == "" {
		return "", fmt.Errorf("the %s read from standard input is empty", what)
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

func needRole(ctx context.Context, st store.Tenant, role string) error {
	if _, err := st.Roles().Get(ctx, role); err != nil {
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
	run                  func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error
	// withKeys, when set instead of run, also gets the signing keys and the
	// audit trail (for commands that act as the server would).
	withKeys func(ctx context.Context, env *Env, fs *flag.FlagSet, st *sqldb.DB, ks *keys.Manager, trail *audit.Log) error
	// detail, when set, adds to the change's audit record what the
	// command did besides changing the record (what removing a user
	// ended); it is read after run.
	detail func() map[string]any
}

// group makes a command group whose every command takes the store flags
// and runs with the store open.
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
			run: func(env *Env, fs *flag.FlagSet) error {
				if err := checkPositional(fs, s.usage); err != nil {
					return err
				}
				ctx, stop := signalContext()
				defer stop()
				st, ks, trail, err := openAudit(ctx, *sf)
				if err != nil {
					return err
				}
				defer st.Close()
				defer trail.Close()
				before := snapshot(ctx, st, name, fs.Arg(0))
				if s.withKeys != nil {
					err = s.withKeys(ctx, env, fs, st, ks, trail)
				} else {
					err = s.run(ctx, env, fs, st)
				}
				if err != nil {
					return err
				}
				after := snapshot(ctx, st, name, fs.Arg(0))
				var fields []string
				if f := secretChanged(before, after); f != "" {
					fields = []string{f}
				} else if reflect.DeepEqual(before.data, after.data) {
					return nil
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
				if err := recordAdminChange(ctx, trail, op, name, fs.Arg(0), before.data, after.data, extra, fields...); err != nil {
					return fmt.Errorf("the change was made but not audited: %w", err)
				}
				return nil
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
	)
	return group("user", "Manage the tenant's people.",
		&adminCmd{name: "list", summary: "List users", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
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
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				u := store.User{Username: fs.Arg(0), Email: *email}
				if msg := config.CheckName("username", u.Username); msg != "" {
					return errors.New(msg)
				}
				if err := config.NameFree(ctx, st.Clients(), u.Username, "client"); err != nil {
					return err
				}
				for _, r := range roles {
					if err := needRole(ctx, st, r); err != nil {
						return err
					}
					u.Roles = addSorted(u.Roles, r)
				}
				if *pwStdin {
					pw, err := readSecret(env, "password")
					if err != nil {
						return err
					}
					if u.PasswordHash, err = config.Argon2.Hash(pw); err != nil {
						return err
					}
				}
				if err := st.Users().Create(ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ user %s\n", u.Username)
				return nil
			}},
		&adminCmd{name: "remove", usage: "USERNAME", summary: "Remove a user, ending their sessions, grants and consents",
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				// Tokens name the user by username: what the user held must
				// end with them, or a new user of the same name inherits it.
				err := st.InTx(ctx, func(tx store.Tenant) error {
					if err := tx.Users().Delete(ctx, fs.Arg(0)); err != nil {
						return err
					}
					var err error
					*ended, err = config.EndUser(ctx, tx, fs.Arg(0))
					return err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "- user %s (ended %s)\n", fs.Arg(0), ended)
				return nil
			},
			detail: func() map[string]any { return map[string]any{"ended": *ended} }},
		&adminCmd{name: "grant", usage: "USERNAME ROLE", summary: "Give a user a role", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			return st.InTx(ctx, func(tx store.Tenant) error {
				if err := needRole(ctx, tx, fs.Arg(1)); err != nil {
					return err
				}
				err := tx.Users().Update(ctx, fs.Arg(0), func(u store.User) (store.User, error) {
					u.Roles = addSorted(u.Roles, fs.Arg(1))
					return u, nil
				})
				if err == nil {
					fmt.Fprintf(env.Stdout, "~ user %s (roles +%s)\n", fs.Arg(0), fs.Arg(1))
				}
				return err
			})
		}},
		&adminCmd{name: "revoke", usage: "USERNAME ROLE", summary: "Take a role from a user", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
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
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				pw, err := readSecret(env, "password")
				if err != nil {
					return err
				}
				h, err := config.Argon2.Hash(pw)
				if err != nil {
					return err
				}
				// A new password is what an operator sets when the old one
				// leaked: what was won with it ends with it.
				err = st.InTx(ctx, func(tx store.Tenant) error {
					err := tx.Users().Update(ctx, fs.Arg(0), func(u store.User) (store.User, error) {
						u.PasswordHash = h
						return u, nil
					})
					if err != nil {
						return err
					}
					*ended, err = config.EndUser(ctx, tx, fs.Arg(0))
					return err
				})
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
		&adminCmd{name: "list", summary: "List roles", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
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
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				if msg := config.CheckName("role", fs.Arg(0)); msg != "" {
					return errors.New(msg)
				}
				if err := st.Roles().Create(ctx, store.Role{Name: fs.Arg(0), Description: *desc}); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ role %s\n", fs.Arg(0))
				return nil
			}},
		&adminCmd{name: "remove", usage: "ROLE", summary: "Remove a role, and take it from every user and tool",
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				name := fs.Arg(0)
				if name == store.AdminRole {
					return errors.New("the admin role is built in and cannot be removed")
				}
				return st.InTx(ctx, func(tx store.Tenant) error {
					if err := tx.Roles().Delete(ctx, name); err != nil {
						return err
					}
					// The group's snapshot of the role records whom it
					// was taken from; the output says so too.
					var from []string
					us, err := tx.Users().List(ctx)
					if err != nil {
						return err
					}
					for _, u := range us {
						if slices.Contains(u.Roles, name) {
							from = append(from, "user "+u.Username)
							if err := tx.Users().Update(ctx, u.Username, func(u store.User) (store.User, error) {
								u.Roles = remove(u.Roles, name)
								return u, nil
							}); err != nil {
								return err
							}
						}
					}
					ts, err := tx.Tools().List(ctx)
					if err != nil {
						return err
					}
					for _, t := range ts {
						if slices.Contains(t.Roles, name) {
							from = append(from, "tool "+t.Name)
							if err := tx.Tools().Update(ctx, t.Name, func(t store.Tool) (store.Tool, error) {
								t.Roles = remove(t.Roles, name)
								return t, nil
							}); err != nil {
								return err
							}
						}
					}
					if len(from) > 0 {
						fmt.Fprintf(env.Stdout, "- role %s (taken from %s)\n", name, strings.Join(from, ", "))
					} else {
						fmt.Fprintf(env.Stdout, "- role %s\n", name)
					}
					return nil
				})
			}},
	)
}
