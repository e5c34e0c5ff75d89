package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
)

// command is one subcommand.
type command struct {
	name    string
	usage   string // arguments after the name
	summary string
	flags   func(fs *flag.FlagSet) // declares the flags; nil for none
	run     func(env *Env, fs *flag.FlagSet) error
	sub     []*command // a command group (user list, user add…)
}

// Env is what commands read and write: streams, environment, signals.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
	// Context, when not nil, ends the serving commands (serve, demo) as
	// a first SIGINT does: how a caller that runs them in-process (a
	// test) stops them. Nil: only the signals do.
	Context context.Context
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// repeatable is a flag that gathers what each use gives (--type a --type
// b); reset forgets what it gathered.
type repeatable interface {
	flag.Value
	reset()
}

// replacedOnce is a repeatable flag set from its variable: its first use
// on the command line drops the variable's values.
type replacedOnce struct {
	flag.Value
	r    repeatable
	used bool
}

func (v *replacedOnce) Set(s string) error {
	if !v.used {
		v.r.reset()
		v.used = true
	}
	return v.Value.Set(s)
}

// parse parses args, after taking defaults from GATEHOUSE_<FLAG> variables.
// A flag on the command line wins over its variable.
func parse(env *Env, fs *flag.FlagSet, args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := env.Getenv(envName(f.Name)); v != "" {
			if r, ok := f.Value.(repeatable); ok {
				// The command line's values replace the variable's, as
				// for any flag, not add to them: a filter asked for on
				// the command line is not widened by the environment.
				defer func() { f.Value = &replacedOnce{Value: f.Value, r: r} }()
			}
			if err := f.Value.Set(v); err != nil {
				// Neither the value nor the parser's words (which quote
				// it) are shown: a secret put in the wrong variable
				// (GATEHOUSE_PASSWORD_STDIN, say) would land on the
				// terminal and in whatever collects it.
				errs = append(errs, fmt.Errorf("%s is set to a value --%s does not take (the value is not shown: it may be a secret)", envName(f.Name), f.Name))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Flags may come before, between or after the positional arguments
	// ("user add carol --role x"); "--" ends the flags.
	var positional, tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	positional = append(positional, tail...)
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return err
	}
	// Every user of the machine can read a command line (ps, and
	// /proc/PID/cmdline, which the process's non-dumpability does not
	// hide): the master key is taken from its variable only. Visit sees
	// the command line's flags alone, the variables being set above.
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "master-key":
			errs = append(errs, fmt.Errorf("--master-key is not taken on the command line, where every user of this machine can read it: set %s", envName(f.Name)))
		case f.Name == "database" && postgres.HasPassword(f.Value.String()):
			// The database's password opens the tenant (its users, roles
			// and clients) as surely as the master key does.
			errs = append(errs, fmt.Errorf("--database with a password is not taken on the command line, where every user of this machine can read it: set %s to the URL, or give the URL without its password and set PGPASSWORD", envName(f.Name)))
		}
	})
	return errors.Join(errs...)
}

// storeFlags are the flags every command that opens the store takes.
type storeFlags struct{ o server.StoreOptions }

func (s *storeFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&s.o.DataDir, "data", server.DefaultDataDir, "data `folder`: the SQLite database and the master key live here")
	fs.StringVar(&s.o.DatabaseURL, "database", "", "PostgreSQL `URL` (postgres://…) to use instead of SQLite; one with a password from GATEHOUSE_DATABASE only (or its password from PGPASSWORD)")
	fs.StringVar(&s.o.MasterKey, "master-key", "", "base64 `key` sealing the signing keys, from GATEHOUSE_MASTER_KEY only, never the command line (default: the data folder's master.key)")
}

func usageFor(env *Env, path string, c *command, fs *flag.FlagSet) func() {
	return func() {
		w := env.Stderr
		fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", strings.TrimSpace("gatehouse "+path), c.usage, c.summary)
		if len(c.sub) > 0 {
			fmt.Fprintf(w, "\nCommands:\n")
			for _, s := range c.sub {
				fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
			}
			fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", strings.TrimSpace("gatehouse "+path))
			return
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags (each also read from GATEHOUSE_<FLAG>, e.g. --data from GATEHOUSE_DATA):\n")
			fs.PrintDefaults()
		}
	}
}

// exitError carries an exit code for failures that are not the user's
// mistake in calling the command (those exit 2).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

var errUsage = errors.New("usage")

func osEnv() *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
}
