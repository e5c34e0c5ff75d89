package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
)

// version is the release and, when the build recorded it, the revision.
func version() string {
	// A pseudo-version (a build from a checkout) names its revision
	// already.
	if rev := buildinfo.Revision(); rev != "" && !strings.Contains(buildinfo.Version, strings.TrimSuffix(rev, "+dirty")) {
		return buildinfo.Version + " (" + rev + ")"
	}
	return buildinfo.Version
}

func commands() []*command {
	return []*command{
		demoCommand(), serveCommand(), applyCommand(),
		{name: "version", summary: "Print the version", run: func(env *Env, fs *flag.FlagSet) error {
			fmt.Fprintf(env.Stdout, "gatehouse %s\n", version())
			return nil
		}},
		keysCommand(), auditCommand(),
		userCommand(), roleCommand(), clientCommand(), toolCommand(), upstreamCommand(),
	}
}

// Main runs the gatehouse command with os.Args and returns the exit code.
func Main() int { return Run(osEnv(), os.Args[1:]) }

// Run runs the command line args (without the program name) and returns the
// exit code: 0 on success, 2 for a usage mistake, 1 for any other failure.
func Run(env *Env, args []string) int {
	root := &command{name: "", usage: "COMMAND [FLAGS]", summary: "Gatehouse: an identity tenant and the MCP controller every AI tool call passes through.", sub: commands()}
	err := dispatch(env, root, "", args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(env.Stderr, "gatehouse: %v\n", err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func dispatch(env *Env, c *command, path string, args []string) error {
	fs := flag.NewFlagSet("gatehouse "+path, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = usageFor(env, strings.TrimSpace(path), c, fs)
	if len(c.sub) > 0 {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fs.Usage()
			if len(args) == 0 {
				return errUsage
			}
			return flag.ErrHelp
		}
		for _, s := range c.sub {
			if s.name == args[0] {
				return dispatch(env, s, strings.TrimSpace(path+" "+s.name), args[1:])
			}
		}
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\n", strings.TrimSpace("gatehouse "+path), args[0])
		fs.Usage()
		return errUsage
	}
	if c.flags != nil {
		c.flags(fs)
	}
	if err := parse(env, fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		if !strings.Contains(err.Error(), "flag provided but not defined") {
			fmt.Fprintf(env.Stderr, "gatehouse %s: %v\n", path, err)
		}
		return errUsage
	}
	err := c.run(env, fs)
	if errors.Is(err, errUsage) {
		fs.Usage()
	}
	return err
}

// args checks the positional arguments' count.
func args(fs *flag.FlagSet, names ...string) ([]string, error) {
	if fs.NArg() != len(names) {
		if len(names) == 0 {
			fmt.Fprintf(fs.Output(), "%s: takes no arguments, got %q\n", fs.Name(), fs.Args())
			return nil, errUsage
		}
		fmt.Fprintf(fs.Output(), "%s: want %d argument(s) (%s), got %d\n", fs.Name(), len(names), strings.Join(names, " "), fs.NArg())
		return nil, errUsage
	}
	return fs.Args(), nil
}
