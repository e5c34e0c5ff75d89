package cli

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/tools"
)

// builtinTools are the built-in tools this binary ships.
var builtinTools = tools.Names()

type serveFlags struct {
	storeFlags
	addr, issuer, tenant    string
	logLevel, logFormat     string
	webhook, syslog         string
	syslogCA, metricsAddr   string
	streamFromStart         bool
	syslogAllowPlain        bool
	trustedProxies, origins list
}

func (s *serveFlags) declare(fs *flag.FlagSet, withTenant bool) {
	s.storeFlags.declare(fs)
	fs.StringVar(&s.addr, "addr", "127.0.0.1:8080", "listen `address`")
	fs.StringVar(&s.issuer, "issuer", "", "public base `URL` of this tenant (default http://ADDR)")
	if withTenant {
		fs.StringVar(&s.tenant, "tenant", "", "tenant `file` to apply at start")
	}
	fs.StringVar(&s.webhook, "audit-webhook", "", "push every audit record to this https `URL` (http only to this machine; signing secret from GATEHOUSE_AUDIT_WEBHOOK_SECRET, and while rolling it the old one from GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS)")
	fs.StringVar(&s.syslog, "audit-syslog", "", "push every audit record to syslog at udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (`URL`)")
	fs.BoolVar(&s.syslogAllowPlain, "audit-syslog-allow-plain", false, "accept a udp:// or tcp:// --audit-syslog to another host, which sends the audit trail in clear (default: only to this machine)")
	fs.StringVar(&s.syslogCA, "audit-syslog-ca", "", "PEM `file` of the certificates that may sign a tls:// syslog receiver's (default: the system's roots)")
	fs.BoolVar(&s.streamFromStart, "audit-stream-from-start", false, "a new audit stream starts with the oldest record kept, not with new ones")
	fs.Var(&s.trustedProxies, "trusted-proxy", "believe X-Forwarded-For from this `CIDR` (repeatable, or comma-separated)")
	fs.Var(&s.origins, "allow-origin", "browser `origin` allowed to call /mcp besides the issuer's (repeatable)")
	fs.StringVar(&s.metricsAddr, "metrics-addr", "", "serve /metrics without a token at this `address`, an operators' one (at the issuer, /metrics is for the admins only)")
	fs.StringVar(&s.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", "text", "log `format`: text or json")
}

func (s *serveFlags) logger(env *Env) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.logLevel)
	}
	o := &slog.HandlerOptions{Level: lvl}
	switch s.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(jsonLog{env.Stderr}, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", s.logFormat)
}

// jsonLog writes the JSON log's records with the characters a terminal or
// log viewer may act on (C1 controls such as CSI, bidirectional overrides)
// escaped, as the JSON handler leaves them as they are: an upstream's
// error text, or a name a caller chose, reaches the log as data. The text
// handler quotes them itself. The handler writes one record per Write.
type jsonLog struct{ w io.Writer }

func (j jsonLog) Write(p []byte) (int, error) {
	if _, err := j.w.Write(audit.EscapeInvisible(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *serveFlags) options(env *Env, log *slog.Logger) (server.Options, error) {
	o := server.Options{Addr: s.addr, Issuer: s.issuer, Store: s.o, Logger: log, AllowedOrigins: s.origins, Getenv: env.Getenv,
		MetricsAddr: s.metricsAddr,
		Streams: server.StreamOptions{Webhook: s.webhook, WebhookSecret: env.Getenv("GATEHOUSE_AUDIT_WEBHOOK_SECRET"),
			Syslog: s.syslog, SyslogCA: s.syslogCA, SyslogAllowPlain: s.syslogAllowPlain, FromStart: s.streamFromStart,
			WebhookSecretPrevious: env.Getenv("GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS")}}
	for _, p := range s.trustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return o, fmt.Errorf("--trusted-proxy %q: want a CIDR (10.0.0.0/8) or an address", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		o.TrustedProxies = append(o.TrustedProxies, pfx)
	}
	return o, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// serveSignals is signalContext for the commands that serve: ctx ends at
// the first SIGINT or SIGTERM, which lets the requests in flight finish,
// and hurry is closed at the second (server.Options.Hurry), which cuts
// them. Caught until stop, a second signal would otherwise be swallowed,
// leaving an operator who cannot wait SIGKILL, which skips closing the
// audit trail. ctx also ends with env.Context, when there is one.
func serveSignals(env *Env) (ctx context.Context, hurry <-chan struct{}, stop func()) {
	parent := env.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	h, done := make(chan struct{}), make(chan struct{})
	go func() {
		for n := 0; n < 2; n++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			if n == 0 {
				cancel()
			}
		}
		close(h)
	}()
	return ctx, h, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

func serveCommand() *command {
	var f serveFlags
	return &command{
		name: "serve", usage: "[FLAGS]",
		summary: "Serve a tenant: identity (OAuth 2.1 / OpenID Connect) and the MCP controller at /mcp.",
		flags:   func(fs *flag.FlagSet) { f.declare(fs, true) },
		run: func(env *Env, fs *flag.FlagSet) error {
			if _, err := args(fs); err != nil {
				return err
			}
			log, err := f.logger(env)
			if err != nil {
				return err
			}
			ctx, hurry, stop := serveSignals(env)
			defer stop()
			if f.tenant != "" {
				// The tenant file is applied before anything is built from
				// the store, so its settings (retention…) hold from the start.
				file, err := config.Load(f.tenant, builtinTools)
				if err != nil {
					return err
				}
				st, ks, trail, err := openAudit(ctx, f.storeFlags, false)
				if err != nil {
					return err
				}
				plan, err := applyAudited(ctx, st, trail, cliActor(), file, &config.ApplyOptions{Sealer: ks})
				if err != nil {
					trail.Close()
					st.Close()
					return fmt.Errorf("apply %s: nothing was changed: %w", f.tenant, otherTenantHint(err))
				}
				kept, err := keptBy(ctx, st, file, false)
				closeTrail(trail, &err)
				st.Close()
				printPlan(env, plan, kept) // the changes are made, whatever follows
				if err != nil {
					return fmt.Errorf("apply %s: %w", f.tenant, err)
				}
			}
			o, err := f.options(env, log)
			if err != nil {
				return err
			}
			o.Hurry = hurry
			return serve(ctx, env, o, func(context.Context, *server.Server) error { return nil }, nil)
		},
	}
}

// serve listens, builds the server, runs setup, then serves until ctx ends.
// What could not be closed properly then (the audit trail's last records
// or checkpoint) is its error too: the exit code says the stop was not clean.
func serve(ctx context.Context, env *Env, o server.Options, setup func(context.Context, *server.Server) error,
	ready func(s *server.Server, metrics net.Addr)) (err error) {
	tuneGC(env.Getenv)
	ln, err := server.Listen(o.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.MetricsAddr != "" && o.MetricsListener == nil {
		// Bound before the store, the keys and the gateway's upstreams
		// are opened, as the public address is: a taken address stops
		// the start with nothing to undo.
		if o.MetricsListener, err = server.ListenMetrics(o.MetricsAddr); err != nil {
			return err
		}
		defer o.MetricsListener.Close()
	}
	s, err := server.New(ctx, o, ln.Addr().String())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", cerr))
		}
	}()
	if err := setup(ctx, s); err != nil {
		return err
	}
	if ready != nil {
		var metrics net.Addr
		if o.MetricsListener != nil {
			metrics = o.MetricsListener.Addr()
		}
		o.OnListen = func(string) { ready(s, metrics) }
	}
	return s.Serve(ctx, ln, o)
}

//go:embed demo.yaml
var demoTenant string

// Demo users' passwords. They are printed on purpose: this is the demo.
const demoNote = `Demo users (password in brackets):
  alice  [alice-demo]  role sales-manager: may use sales_report
  bob    [bob-demo]    role hr-manager: may use payroll_report
  admin  [admin-demo]  role admin: may query the audit trail through the admin API`

func demoCommand() *command {
	var f serveFlags
	return &command{
		name: "demo", usage: "[FLAGS]",
		summary: "Serve the built-in demo tenant \"acme\", seeded on first start into the data folder.",
		flags:   func(fs *flag.FlagSet) { f.declare(fs, false) },
		run: func(env *Env, fs *flag.FlagSet) error {
			if _, err := args(fs); err != nil {
				return err
			}
			log, err := f.logger(env)
			if err != nil {
				return err
			}
			ctx, hurry, stop := serveSignals(env)
			defer stop()
			o, err := f.options(env, log)
			if err != nil {
				return err
			}
			o.Hurry = hurry
			return serve(ctx, env, o, func(ctx context.Context, s *server.Server) error {
				return seedDemo(ctx, env, s.Store, s.Audit, s.Keys)
			}, func(s *server.Server, metrics net.Addr) {
				demoBanner(env.Stdout, s, f.o, metrics)
			})
		},
	}
}

// demoBanner tells the person who ran 'gatehouse demo' where everything
// is; metrics is the address --metrics-addr bound (nil: none).
func demoBanner(w io.Writer, s *server.Server, data server.StoreOptions, metrics net.Addr) {
	fmt.Fprintf(w, `
Gatehouse demo tenant "acme" is running.

  Issuer (OpenID Connect discovery): %[1]s/.well-known/openid-configuration
  Sign-in page:                      %[1]s/login
  MCP endpoint:                      %[1]s/mcp
  Admin API (audit query):           %[1]s/admin/api/audit
  Admin API (one call's chain):      %[1]s/admin/api/audit/trace?correlation=ID
  Admin API (log streams):           %[1]s/admin/api/audit/streams
  Health:                            %[1]s/healthz
  Metrics:                           %[4]s

%[2]s

Connect an MCP client: point it at %[1]s/mcp; it discovers the sign-in
through the protected-resource metadata, registers itself and opens the
sign-in page. For example: npx mcp-remote %[1]s/mcp

State lives in %[3]s; restarting keeps it. Stop with Ctrl-C.
`, s.Issuer, demoNote, dataLocation(data), metricsLocation(s.Issuer, metrics))
}

func dataLocation(o server.StoreOptions) string {
	if o.DatabaseURL != "" {
		return "the PostgreSQL database"
	}
	return o.DataDir
}

// seedDemo applies the demo tenant file once, on an empty store.
func seedDemo(ctx context.Context, env *Env, st store.Store, trail txTrail, sealer config.SettingSealer) error {
	name, err := st.Setting(ctx, "tenant")
	if err == nil {
		if name != "acme" {
			return fmt.Errorf("this data folder holds tenant %q, not the demo: use 'gatehouse serve', or another --data folder", name)
		}
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	f, err := config.Parse(strings.NewReader(demoTenant), "demo.yaml")
	if err != nil {
		return err
	}
	if err := f.Validate(builtinTools); err != nil {
		return err
	}
	// The folder is marked as the demo's before the demo goes in: marked
	// after, a seeding interrupted between the two would leave the demo's
	// published passwords in a folder a later apply takes for a real
	// tenant's (this function returns early once the tenant is there, so
	// the mark would never come). Marked first, a failed seeding is
	// simply seeded again on the next start.
	if err := st.SetSetting(ctx, demoSetting, "seeded"); err != nil {
		return err
	}
	start := time.Now()
	plan, err := applyAudited(ctx, st, trail, demoActor, f, &config.ApplyOptions{Sealer: sealer})
	if err != nil {
		return fmt.Errorf("seed the demo tenant: %w", err)
	}
	fmt.Fprintf(env.Stdout, "Seeded the demo tenant (%d changes in %s).\n", len(plan), time.Since(start).Round(time.Millisecond))
	return nil
}

// printPlan prints the changes of an apply and then what it kept that the
// file does not name (config.Unnamed, for an apply without --prune).
func printPlan(env *Env, plan, kept config.Plan) {
	switch {
	case len(plan) == 0 && len(kept) == 0:
		fmt.Fprintln(env.Stdout, "No changes: the store already matches the file.")
	case len(plan) == 0:
		fmt.Fprintln(env.Stdout, "No changes to what the file names.")
	}
	for _, c := range plan {
		fmt.Fprintln(env.Stdout, c.String())
	}
	if len(kept) > 0 {
		fmt.Fprintf(env.Stdout, "Kept, though the file does not name them (apply --prune removes them): %d\n", len(kept))
		for _, c := range kept {
			fmt.Fprintf(env.Stdout, "  %s %s\n", c.Kind, c.Name)
		}
	}
}

// otherTenantHint adds to config.ErrOtherTenant how to rename the tenant
// when that is meant.
func otherTenantHint(err error) error {
	if errors.Is(err, config.ErrOtherTenant) {
		return fmt.Errorf("%w (check --data or --database and -f; if the new name is meant, apply the file once with gatehouse apply --rename-tenant)", err)
	}
	return err
}

// keptBy is what applying f without --prune keeps in st that f does not
// name, or nothing with prune.
func keptBy(ctx context.Context, st store.Tenant, f *config.File, prune bool) (config.Plan, error) {
	if prune {
		return nil, nil
	}
	kept, err := config.Unnamed(ctx, st, f)
	if err != nil {
		return nil, fmt.Errorf("list what the file does not name: %w", err)
	}
	return kept, nil
}

func applyCommand() *command {
	var (
		sf            storeFlags
		file          string
		dryRun, prune bool
		rename        bool
	)
	return &command{
		name: "apply", usage: "-f FILE [FLAGS]",
		summary: "Apply a tenant file: print the plan, then make every change in one transaction (or none).",
		flags: func(fs *flag.FlagSet) {
			sf.declare(fs)
			fs.StringVar(&file, "f", "", "tenant `file` (YAML)")
			fs.BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
			fs.BoolVar(&rename, "rename-tenant", false, "take the file's tenant name as the store's new one (without it, a file of another tenant is refused)")
			fs.BoolVar(&prune, "prune", false, "also delete roles, users, clients, upstreams and tools the file no longer has (never dynamically registered clients)")
		},
		run: func(env *Env, fs *flag.FlagSet) error {
			if _, err := args(fs); err != nil {
				return err
			}
			if file == "" {
				fmt.Fprintln(env.Stderr, "gatehouse apply: -f FILE is required")
				return errUsage
			}
			f, err := config.Load(file, builtinTools)
			if err != nil {
				return err
			}
			// A dry run on the store looks only: it opens the keys
			// read-only (see openAudit).
			target, readOnly := sf, dryRun
			if dryRun {
				// A dry run creates nothing: where no store is yet, the
				// plan is made against an empty one, thrown away after.
				if err := needStore(sf.o); errors.Is(err, errNoStore) {
					tmp, err := os.MkdirTemp("", "gatehouse-plan-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(tmp)
					target, readOnly = storeFlags{o: server.StoreOptions{DataDir: tmp}}, false
					defer fmt.Fprintln(env.Stdout, "(the store does not exist yet: this is the plan for a new one)")
				} else if err != nil {
					return err
				}
			}
			return withAuditStoreAs(target, readOnly, func(ctx context.Context, st *sqldb.DB, ks *keys.Manager, trail *audit.Log) error {
				plan, err := applyAudited(ctx, st, trail, cliActor(), f, &config.ApplyOptions{DryRun: dryRun, Prune: prune, Sealer: ks, RenameTenant: rename})
				if err != nil {
					return fmt.Errorf("apply %s: nothing was changed: %w", file, otherTenantHint(err))
				}
				// The plan is printed even when the list of what it kept
				// cannot be read: the changes are made.
				kept, err := keptBy(ctx, st, f, prune)
				printPlan(env, plan, kept)
				if err != nil {
					return err
				}
				if dryRun && len(plan) > 0 {
					fmt.Fprintln(env.Stdout, "(dry run: nothing was changed)")
				}
				return nil
			})
		},
	}
}

func keysCommand() *command {
	var (
		sf  storeFlags
		now bool
	)
	return &command{
		name: "keys", usage: "COMMAND", summary: "Manage the tenant's signing keys.",
		sub: []*command{
			{name: "list", summary: "List the signing keys (never their secret halves)",
				flags: sf.declare,
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					// Nor does listing the keys make a store (and keys).
					if err := needStore(sf.o); err != nil {
						return err
					}
					return withKeys(env, sf, func(ctx context.Context, ks keyManager) error {
						infos, err := ks.List(ctx)
						if err != nil {
							return err
						}
						fmt.Fprintf(env.Stdout, "%-26s %-6s %-20s %s\n", "KID", "ALG", "CREATED", "STATE")
						t := time.Now()
						for _, k := range infos {
							fmt.Fprintf(env.Stdout, "%-26s %-6s %-20s %s\n", k.ID, k.Alg, k.Created.Format(time.RFC3339), keyState(k, t))
						}
						return nil
					})
				}},
			{name: "rotate", summary: "Make new signing keys, published at once, signing 10 minutes later; the old ones stay published for 24 hours after they stop signing",
				flags: func(fs *flag.FlagSet) {
					sf.declare(fs)
					fs.BoolVar(&now, "now", false, "sign with the new keys at once and withdraw the current ones now (a compromised key): what they signed is refused (running servers follow within 10 s), and relying parties that cached the JWKS refuse new tokens until they fetch it again")
				},
				run: func(env *Env, fs *flag.FlagSet) error {
					if _, err := args(fs); err != nil {
						return err
					}
					// Opened where a mistyped --data points, a store would
					// be made and its fresh keys rotated: "Rotated", while
					// the tenant's keys (a compromised one, with --now)
					// went on signing.
					if err := needStore(sf.o); err != nil {
						return err
					}
					return withAuditStore(sf, func(ctx context.Context, _ *sqldb.DB, ks *keys.Manager, trail *audit.Log) error {
						fresh, err := ks.NewKeys() // before the transaction (NewKeys says why)
						if err != nil {
							return fmt.Errorf("the keys were not rotated: %w", err)
						}
						// The rotation and its record are one transaction;
						// the record is signed as what follows the
						// rotation: by the current keys (RotateIn), by the
						// new ones with --now (RotateNowIn).
						_, err = trail.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
							before, err := ks.ListIn(ctx, tx)
							if err != nil {
								return nil, err
							}
							rotate := ks.RotateIn
							if now {
								rotate = ks.RotateNowIn
							}
							if err := rotate(ctx, tx, fresh); err != nil {
								return nil, err
							}
							after, err := ks.ListIn(ctx, tx)
							if err != nil {
								return nil, err
							}
							return []audit.Event{{Type: audit.KeyRotated, Actor: cliActor(), Detail: rotationDetail(before, after)}}, nil
						})
						if err != nil {
							// The new keys were not stored: sign with the stored ones.
							if lerr := ks.Load(ctx); lerr != nil {
								err = errors.Join(err, lerr)
							}
							return fmt.Errorf("the keys were not rotated: %w", err)
						}
						if now {
							fmt.Fprintln(env.Stdout, "Rotated: new keys sign from now on; the previous keys are withdrawn (out of the JWKS, refused for tokens and slips; kept only to check the audit trail's past signatures). Running servers follow within their background interval (10 s by default).")
							return nil
						}
						infos, err := ks.List(ctx)
						if err != nil {
							return err
						}
						var from time.Time
						for _, k := range infos {
							if k.Activates.After(from) {
								from = k.Activates
							}
						}
						fmt.Fprintf(env.Stdout, "Rotated: the new keys are published now and sign from %s (every server switches then); the current keys sign until then and stay in the JWKS for 24 hours after.\n", from.Local().Format(time.RFC3339))
						return nil
					})
				}},
		},
	}
}

// keyState is what 'keys list' says of a key at now: pending (published,
// not signing yet), active (with its planned retirement), retired (still
// published), or withdrawn (out of the JWKS: its 24 hours after a planned
// rotation passed, or it was withdrawn at once with rotate --now).
func keyState(k keys.Info, now time.Time) string {
	switch {
	case k.Pending(now):
		return "pending, signs from " + k.Activates.Format(time.RFC3339)
	case k.Signs(now) && k.Retired.IsZero():
		return "active"
	case k.Signs(now):
		return "active until " + k.Retired.Format(time.RFC3339) + ", published until " + k.Expires.Format(time.RFC3339)
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		// Out of the JWKS (kept to check the audit trail's signatures):
		// said outright, so that an admin who withdrew a compromised key
		// need not compare "published until" with the clock.
		return "withdrawn " + k.Expires.Format(time.RFC3339) + ", kept to verify the audit trail"
	}
	return "retired " + k.Retired.Format(time.RFC3339) + ", published until " + k.Expires.Format(time.RFC3339)
}

// metricsLocation says where /metrics is served: always at the issuer,
// for the admins, and without a token at the address --metrics-addr
// bound (nil: none). The bound address, not the flag: ":0" names no port
// to scrape, and ":9090" no host; it is written as the default issuer
// is, from the address bound.
func metricsLocation(issuer string, metrics net.Addr) string {
	admins := issuer + "/metrics (for the admins, with a token for the admin API)"
	if metrics == nil {
		return admins + "; --metrics-addr serves them without one at an operators' address"
	}
	return "http://" + metrics.String() + "/metrics, and " + admins
}
