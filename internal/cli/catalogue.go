package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

func clientCommand() *command {
	var (
		kind, name           = new(string), new(string)
		secretStdin, noTools = new(bool), new(bool)
		redirects, toolCap   multi
		// secretHash is the hash of the client secret prepare read, or
		// secretErr the error reading or hashing it gave (reported where
		// the command used to read it).
		secretHash = new(string)
		secretErr  = new(error)
		ended      = new(store.ClientEnded)
	)
	return group("client", "Manage apps and AI agents (OAuth clients).",
		&adminCmd{name: "list", summary: "List clients", read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			cs, err := st.Clients().List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, c := range cs {
				tools := "any granted"
				if c.Tools != nil {
					tools = "only: " + strings.Join(c.Tools, ",")
				}
				auth := "public"
				if c.Confidential() {
					auth = "confidential"
				}
				state := "active"
				if c.Disabled {
					state = "disabled"
				}
				rows = append(rows, []string{c.ClientID, c.Kind, auth, c.Source, tools, state})
			}
			table(env, "CLIENT_ID\tKIND\tAUTH\tSOURCE\tTOOLS\tSTATE", rows)
			return nil
		}},
		&adminCmd{name: "add", usage: "CLIENT_ID [FLAGS]", summary: "Add an app or agent (secret read from standard input with --secret-stdin)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(kind, "kind", "agent", "`kind`: agent, web, native or service")
				fs.StringVar(name, "name", "", "display `name`")
				fs.Var(&redirects, "redirect-uri", "allowed redirect `URI` (repeatable)")
				fs.Var(&toolCap, "tool", "cap the agent to this `tool` (repeatable)")
				fs.BoolVar(noTools, "no-tools", false, "cap the agent to no tool at all")
				fs.BoolVar(secretStdin, "secret-stdin", false, "read the client secret from standard input")
			},
			// Read before the change's transaction: a person may be typing it.
			prepare: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error {
				if !*secretStdin || *kind == store.KindNative {
					return nil
				}
				s, err := readSecret(env, "client secret")
				switch {
				case err != nil:
				case len(s) < config.MinSecretLen:
					err = fmt.Errorf("the client secret must be at least %d characters (better, 32 random bytes base64url)", config.MinSecretLen)
				default:
					*secretHash, err = config.Argon2.Hash(s)
				}
				*secretErr = err
				return nil
			},
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
				c := store.Client{ClientID: fs.Arg(0), Name: *name, Kind: *kind, RedirectURIs: redirects, Source: store.SourceTenant}
				if msg := config.CheckName("client", c.ClientID); msg != "" {
					return errors.New(msg)
				}
				if msg := store.CheckDisplayName(c.Name); msg != "" {
					return errors.New("--name " + msg)
				}
				switch c.Kind {
				case store.KindAgent, store.KindWeb, store.KindNative, store.KindService:
				default:
					return fmt.Errorf("--kind %q: want agent, web, native or service", c.Kind)
				}
				for _, u := range redirects {
					if msg := config.CheckRedirectURI(u); msg != "" {
						return errors.New(msg)
					}
				}
				// A client's own token (client_credentials) has the client as
				// its subject: the name must not be a person's too, by any
				// spelling, nor another client's but for case
				// (store.NameFree).
				if err := store.NameFree(ctx, st, "client", c.ClientID); err != nil {
					return err
				}
				if *noTools {
					if len(toolCap) > 0 {
						return errors.New("--no-tools caps the agent to no tool, --tool to the tools named: give one or the other")
					}
					c.Tools = []string{}
				}
				for _, t := range toolCap {
					if _, err := st.Tools().Get(ctx, t); err != nil {
						return fmt.Errorf("--tool %s: %w", t, err)
					}
					c.Tools = addSorted(c.Tools, t)
				}
				if *secretStdin {
					if c.Kind == store.KindNative {
						return errors.New("a native client cannot keep a secret")
					}
					if *secretErr != nil {
						return *secretErr
					}
					c.SecretHash = *secretHash
				} else if c.Kind == store.KindService {
					return errors.New("a service client needs a secret: pass --secret-stdin")
				}
				if err := st.Clients().Create(ctx, c); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ client %s\n", c.ClientID)
				return nil
			}},
		&adminCmd{name: "remove", usage: "CLIENT_ID", summary: "Remove a client, ending its grants, consents and tokens",
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant) error {
				// An HTTP tool's slips name the client that may introspect
				// them: removed, a client added again under its ID, of any
				// kind, would be that one. As for an upstream, the tool
				// goes first.
				ts, err := tx.Tools().List(ctx)
				if err != nil {
					return err
				}
				for _, t := range ts {
					if t.HTTP != nil && t.HTTP.ClientID == fs.Arg(0) {
						return fmt.Errorf("tool %s introspects its slips as client %s: remove the tool first", t.Name, fs.Arg(0))
					}
				}
				// What the client was given must end with it, or a client
				// added again under its ID inherits it.
				if err := tx.Clients().Delete(ctx, fs.Arg(0)); err != nil {
					return err
				}
				if *ended, err = config.EndClient(ctx, tx, fs.Arg(0)); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "- client %s (ended %s)\n", fs.Arg(0), ended)
				return nil
			},
			detail: func() map[string]any { return map[string]any{"ended": *ended} }},
		&adminCmd{name: "disable", usage: "CLIENT_ID", summary: "Disable an app or agent: no tokens, and its tokens refused", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			return setClientDisabled(ctx, env, st, fs.Arg(0), true)
		}},
		&adminCmd{name: "enable", usage: "CLIENT_ID", summary: "Enable a disabled app or agent", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			return setClientDisabled(ctx, env, st, fs.Arg(0), false)
		}},
	)
}

// setClientDisabled disables or enables a client; the group records the
// change in the audit trail. A client already so is said to be, with no
// "~" line: that line names a change, and the trail holds none.
func setClientDisabled(ctx context.Context, env *Env, st store.Tenant, id string, disabled bool) error {
	already := false
	err := st.Clients().Update(ctx, id, func(c store.Client) (store.Client, error) {
		already = c.Disabled == disabled
		c.Disabled = disabled
		return c, nil
	})
	if err != nil {
		return err
	}
	if already {
		state := "enabled"
		if disabled {
			state = "disabled"
		}
		fmt.Fprintf(env.Stdout, "client %s is already %s: nothing changed\n", id, state)
		return nil
	}
	fmt.Fprintf(env.Stdout, "~ client %s (disabled: %t)\n", id, disabled)
	return nil
}

func toolCommand() *command {
	var (
		desc, builtin, upstream, upstreamTool = new(string), new(string), new(string), new(string)
		method, url, httpClient, when, schema = new(string), new(string), new(string), new(string), new(string)
		roles                                 multi
		plainHTTP                             = new(bool)
	)
	return group("tool", "Manage the tool catalogue, which is also the permission catalogue.",
		&adminCmd{name: "list", summary: "List tools and the roles granted each", read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			ts, err := st.Tools().List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				backend := t.Backend()
				switch backend {
				case "builtin":
					backend += ":" + t.Builtin
				case "upstream":
					backend += ":" + t.Upstream
				case "http":
					backend += ":" + t.HTTP.Method + " " + store.RedactURL(t.HTTP.URL)
				}
				status := t.Status
				if status == "" {
					status = store.ToolActive
				}
				rows = append(rows, []string{t.Name, backend, strings.Join(t.Roles, ","), status, t.When})
			}
			table(env, "TOOL\tBACKEND\tROLES\tSTATUS\tCONDITION", rows)
			return nil
		}},
		&adminCmd{name: "add", usage: "TOOL [FLAGS]", summary: "Add a tool and choose the roles that may use it",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(desc, "description", "", "what the tool does")
				fs.StringVar(builtin, "builtin", "", "built-in tool `name` ("+strings.Join(builtinTools, ", ")+")")
				fs.StringVar(upstream, "upstream", "", "upstream MCP server `name`")
				fs.StringVar(upstreamTool, "upstream-tool", "", "the tool's `name` on the upstream, when it differs")
				fs.StringVar(method, "http-method", "", "HTTP tool: `method`")
				fs.StringVar(url, "http-url", "", "HTTP tool: `URL`")
				fs.StringVar(httpClient, "http-client", "", "HTTP tool: the service `client` that introspects slips")
				fs.BoolVar(plainHTTP, "allow-plain-http", false, "HTTP tool: take a plain http URL on another machine (the slip crosses the network in clear text)")
				fs.StringVar(schema, "input-schema", "", "input JSON `schema` (an object schema)")
				fs.StringVar(when, "when", "", "Cedar `condition`, e.g. 'context.args.amount <= 50'")
				fs.Var(&roles, "role", "grant the tool to this `role` (repeatable)")
			},
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
				t := store.Tool{Name: fs.Arg(0), Description: *desc, Builtin: *builtin, Upstream: *upstream,
					UpstreamTool: *upstreamTool, When: strings.TrimSpace(*when), Status: store.ToolActive}
				if msg := config.CheckName("tool", t.Name); msg != "" {
					return errors.New(msg)
				}
				if err := store.NameFree(ctx, st, "tool", t.Name); err != nil {
					return err
				}
				n := 0
				if t.Builtin != "" {
					n++
					if !slices.Contains(builtinTools, t.Builtin) {
						return fmt.Errorf("unknown built-in tool %q (this binary has: %s)", t.Builtin, strings.Join(builtinTools, ", "))
					}
				}
				if t.Upstream != "" {
					n++
					if _, err := st.Upstreams().Get(ctx, t.Upstream); err != nil {
						return fmt.Errorf("--upstream: %w", err)
					}
				}
				if *url != "" || *method != "" {
					n++
					t.HTTP = &store.HTTPBackend{Method: strings.ToUpper(*method), URL: *url, ClientID: *httpClient}
				} else if *httpClient != "" {
					return errors.New("--http-client goes with --http-method and --http-url")
				} else if *plainHTTP {
					return errors.New("--allow-plain-http goes with --http-method and --http-url")
				}
				if n != 1 {
					return errors.New("give exactly one backend: --builtin, --upstream, or --http-method with --http-url")
				}
				if t.HTTP != nil {
					// The checks of the tenant file's http tools.
					if msg := config.CheckHTTPMethod(*method); msg != "" {
						return errors.New("--http-method " + msg)
					}
					if msg := config.CheckHTTPURL(*url); msg != "" {
						return errors.New("--http-url " + msg)
					}
					if config.PlainHTTP(*url) && !*plainHTTP {
						return errors.New("--http-url " + config.PlainHTTPRefusal(*url, config.ToolCarries, "give --allow-plain-http"))
					}
					if t.HTTP.ClientID != "" {
						c, err := st.Clients().Get(ctx, t.HTTP.ClientID)
						if err != nil {
							return fmt.Errorf("--http-client %s: %w", t.HTTP.ClientID, err)
						}
						if c.Kind != store.KindService {
							return fmt.Errorf("--http-client %s: must be of kind service to introspect slips", t.HTTP.ClientID)
						}
					}
				}
				if t.UpstreamTool != "" && t.Upstream == "" {
					return errors.New("--upstream-tool goes with --upstream")
				}
				if *schema != "" {
					// The tenant file's check: one the gateway cannot use
					// would withhold the tool.
					var s map[string]any
					if err := json.Unmarshal([]byte(*schema), &s); err != nil || s == nil {
						return errors.New("--input-schema must be a JSON object schema with \"type\": \"object\"")
					}
					if msg := config.CheckInputSchema(s); msg != "" {
						return errors.New("--input-schema " + msg)
					}
					t.InputSchema = json.RawMessage(*schema)
				}
				for _, r := range roles {
					if err := needRole(ctx, st, r); err != nil {
						return err
					}
					t.Roles = addSorted(t.Roles, r)
				}
				if t.When != "" {
					if _, err := policy.Compile([]policy.Rule{{Tool: t.Name, Roles: t.Roles, When: t.When}}); err != nil {
						return fmt.Errorf("--when: %w", err)
					}
				}
				if err := st.Tools().Create(ctx, t); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ tool %s\n", t.Name)
				return nil
			}},
		&adminCmd{name: "approve", usage: "TOOL [FLAGS]", summary: "Review an upstream tool's definition awaiting approval (new, or changed since it was pinned) and approve exactly that one",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(approveHash, "hash", "", "approve only the definition with this SHA-256 `hex` (as the review shows it); required without a terminal")
			},
			prepare: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error {
				return reviewApproval(ctx, env, st, trail, fs.Arg(0), approveHash)
			},
			runRec: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant, rec audit.Recorder) error {
				return approveTool(ctx, env, tx, rec, fs.Arg(0), *approveHash)
			}},
		&adminCmd{name: "remove", usage: "TOOL", summary: "Remove a tool", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			if err := st.Tools().Delete(ctx, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "- tool %s\n", fs.Arg(0))
			return nil
		}},
		&adminCmd{name: "grant", usage: "TOOL ROLE", summary: "Let a role use a tool", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			if err := needRole(ctx, st, fs.Arg(1)); err != nil {
				return err
			}
			granted := false
			err := st.Tools().Update(ctx, fs.Arg(0), func(t store.Tool) (store.Tool, error) {
				granted = slices.Contains(t.Roles, fs.Arg(1))
				t.Roles = addSorted(t.Roles, fs.Arg(1))
				return t, nil
			})
			switch {
			case err != nil:
			case granted:
				fmt.Fprintf(env.Stdout, "tool %s is already granted to role %s: nothing changed\n", fs.Arg(0), fs.Arg(1))
			default:
				fmt.Fprintf(env.Stdout, "~ tool %s (roles +%s)\n", fs.Arg(0), fs.Arg(1))
			}
			return err
		}},
		&adminCmd{name: "revoke", usage: "TOOL ROLE", summary: "Stop a role from using a tool", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			err := st.Tools().Update(ctx, fs.Arg(0), func(t store.Tool) (store.Tool, error) {
				if !slices.Contains(t.Roles, fs.Arg(1)) {
					return t, fmt.Errorf("role %q is not granted tool %s", fs.Arg(1), t.Name)
				}
				t.Roles = remove(t.Roles, fs.Arg(1))
				return t, nil
			})
			if err == nil {
				fmt.Fprintf(env.Stdout, "~ tool %s (roles -%s)\n", fs.Arg(0), fs.Arg(1))
			}
			return err
		}},
	)
}

func upstreamCommand() *command {
	var (
		url         = new(string)
		perCaller   = new(bool)
		plainHTTP   = new(bool)
		callTimeout = new(string)
		command     multi
		envNames    multi
	)
	return group("upstream", "Manage the MCP servers behind the gateway.",
		&adminCmd{name: "list", summary: "List upstream MCP servers", read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
			us, err := st.Upstreams().List(ctx)
			if err != nil {
				return err
			}
			ts, err := st.Tools().List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, u := range us {
				awaiting, err := awaitingApproval(ctx, st, u.Name, ts)
				if err != nil {
					return err
				}
				limit := "default"
				if u.CallTimeout > 0 {
					limit = u.CallTimeout.String()
				}
				// Credentials a URL or command line carries are left out,
				// as in the audit trail: a listing is pasted into tickets.
				transport, target := "http", store.RedactURL(u.URL)
				if u.URL == "" {
					transport, target = "stdio", commandLine(store.RedactArgs(u.Command))
					if u.PerCaller {
						transport = "stdio, per caller"
					}
				}
				rows = append(rows, []string{u.Name, transport, limit, awaiting, target})
			}
			table(env, "UPSTREAM\tTRANSPORT\tCALL TIMEOUT\tAWAITING APPROVAL\tTARGET", rows)
			return nil
		}},
		&adminCmd{name: "add", usage: "NAME [FLAGS]", summary: "Add an upstream MCP server (stdio command or Streamable HTTP URL)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(url, "url", "", "Streamable HTTP `URL`")
				fs.BoolVar(plainHTTP, "allow-plain-http", false, "take a plain http --url on another machine (the gateway's credentials cross the network in clear text)")
				fs.Var(&command, "command", "stdio: the program, then each argument (repeat the flag per word)")
				fs.BoolVar(perCaller, "per-caller", false, "stdio: one process per caller (a person through an agent)")
				fs.Var(&envNames, "env", "stdio: a `variable` of the server's environment the upstream gets (repeatable)")
				fs.StringVar(callTimeout, "call-timeout", "", "bound of one tool call, e.g. 90s or 10m (`duration`; default 5m)")
			},
			run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
				u := store.Upstream{Name: fs.Arg(0), URL: *url, Command: command, Env: envNames, PerCaller: *perCaller}
				if msg := config.CheckName("upstream", u.Name); msg != "" {
					return errors.New(msg)
				}
				if err := store.NameFree(ctx, st, "upstream", u.Name); err != nil {
					return err
				}
				if (u.URL == "") == (len(u.Command) == 0) {
					return errors.New("give --url or --command, exactly one")
				}
				if u.URL != "" {
					if msg := config.CheckHTTPURL(u.URL); msg != "" {
						return errors.New("--url " + msg)
					}
					if config.PlainHTTP(u.URL) && !*plainHTTP {
						return errors.New("--url " + config.PlainHTTPRefusal(u.URL, config.UpstreamCarries, "give --allow-plain-http"))
					}
				} else if u.Command[0] == "" {
					return errors.New("--command: the program is empty")
				} else if *plainHTTP {
					return errors.New("--allow-plain-http goes with --url")
				}
				if u.PerCaller && u.URL != "" {
					return errors.New("--per-caller goes with --command: a Streamable HTTP upstream gives each caller a session of its own already")
				}
				if len(u.Env) > 0 && u.URL != "" {
					return errors.New("--env goes with --command: a Streamable HTTP upstream gets no environment")
				}
				for i, name := range u.Env {
					// New configuration: the strict rule, and the name is not
					// repeated (a secret pasted for one would be printed).
					if msg := store.CheckUpstreamEnv(name); msg != "" {
						return fmt.Errorf("--env (number %d given): %s", i+1, msg)
					}
				}
				limit, err := config.ParseCallTimeout(*callTimeout)
				if err != nil {
					return fmt.Errorf("--call-timeout: %w", err)
				}
				u.CallTimeout = limit
				if err := st.Upstreams().Create(ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "+ upstream %s\n", u.Name)
				return nil
			}},
		&adminCmd{name: "review", usage: "NAME", summary: "Show the upstream's prompts and resource templates whose changed definitions await approval",
			read: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store) error {
				return reviewUpstream(ctx, env, st, fs.Arg(0))
			}},
		&adminCmd{name: "approve", usage: "NAME KIND ID [FLAGS]", summary: "Approve exactly the reviewed definition of an upstream's prompt or resource template (KIND: prompt or template; ID: its name or URI template)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(featureHash, "hash", "", "approve only the definition with this SHA-256 `hex` (as the review shows it); required without a terminal")
			},
			prepare: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Store, trail audit.Recorder) error {
				return reviewFeatureApproval(ctx, env, st, fs.Arg(0), fs.Arg(1), fs.Arg(2), featureHash)
			},
			runRec: func(ctx context.Context, env *Env, fs *flag.FlagSet, tx store.Tenant, rec audit.Recorder) error {
				return approveFeature(ctx, env, tx, rec, fs.Arg(0), fs.Arg(1), fs.Arg(2), *featureHash)
			}},
		&adminCmd{name: "remove", usage: "NAME", summary: "Remove an upstream", run: func(ctx context.Context, env *Env, fs *flag.FlagSet, st store.Tenant) error {
			ts, err := st.Tools().List(ctx)
			if err != nil {
				return err
			}
			for _, t := range ts {
				if t.Upstream == fs.Arg(0) {
					return fmt.Errorf("tool %s uses upstream %s: remove the tool first", t.Name, fs.Arg(0))
				}
			}
			if err := st.Upstreams().Delete(ctx, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "- upstream %s\n", fs.Arg(0))
			return nil
		}},
	)
}

// awaitingApproval says what of upstream awaits an admin's approval: its
// tools (of ts) pending, and its prompts and resource templates whose
// changed definitions are withheld; "-" when nothing does.
func awaitingApproval(ctx context.Context, st store.Tenant, upstream string, ts []store.Tool) (string, error) {
	tools := 0
	for _, t := range ts {
		if t.Upstream == upstream && t.Status == store.ToolPending {
			tools++
		}
	}
	rs, err := gateway.ReviewFeatures(ctx, st, upstream)
	unreadable := errors.Is(err, gateway.ErrNotPins)
	if err != nil && !unreadable {
		return "", err
	}
	var parts []string
	if tools > 0 {
		parts = append(parts, fmt.Sprintf("%d tools (tool approve)", tools))
	}
	if unreadable {
		// Written other than by a server: its prompts and templates are
		// all withheld. The other upstreams are still listed.
		parts = append(parts, "every prompt and template: their record does not read (upstream review)")
	}
	if len(rs) > 0 {
		parts = append(parts, fmt.Sprintf("%d prompts or templates (upstream review)", len(rs)))
	}
	if len(parts) == 0 {
		return "-", nil
	}
	return strings.Join(parts, ", "), nil
}

// commandLine shows an upstream's command as a shell would read it: a
// word with a blank or a quote in it is quoted, so that one word given as
// --command "server --stdio" does not read as the two of --command server
// --command --stdio (it runs a program named "server --stdio").
func commandLine(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = w
		if w == "" || strings.ContainsAny(w, " \t'\"\\$`") {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
