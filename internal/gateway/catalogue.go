package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
)

// catalogue is an immutable snapshot of the static configuration the call
// path needs: tools, users, clients and the compiled policy. A new one is
// built when the store's revision moves or an upstream's tools change.
type catalogue struct {
	rev     int64
	tools   map[string]*entry // every catalogue tool by name
	users   map[string]store.User
	clients map[string]store.Client
	policy  *policy.Set
	// upstreams is the tenant's upstream configuration, by name.
	upstreams map[string]store.Upstream
	// rawArguments: the tenant keeps tool call arguments in the trail.
	rawArguments bool
	// callsPerMinute bounds each caller's tool calls in a minute, and
	// personCallsPerMinute each person's through all agents; 0: none.
	callsPerMinute, personCallsPerMinute int
	// data is what the catalogue was built from, to rebuild it when only
	// the upstreams' definitions changed.
	data *tenantData
	// ended remembers, by client ID, when the store says a client of the
	// ID was last removed (notEnded): a removal moves the revision, so the
	// answer stands for as long as the catalogue it was asked for.
	ended sync.Map
}

// entry is one catalogue tool as the gateway serves it.
type entry struct {
	tool store.Tool
	// def is what tools/list shows; nil when the tool cannot be listed (an
	// upstream tool whose definition is not known yet).
	def *mcp.Tool
	// withheld, when not empty, says why the tool may not run now (its
	// upstream definition changed and awaits approval, or the tenant's
	// input_schema or condition for it cannot be compiled); such a tool
	// is neither listed nor callable.
	withheld string
	// schema is the tenant's input_schema, compiled once per catalogue;
	// nil when the tenant declares none. Calls are checked against it
	// before a slip is minted.
	schema *jsonschema.Resolved
	// names are the property names schema declares: arguments that spell
	// one of them in another case are refused with the schema's error.
	names *tools.PropertyNames
	// defJSON is def as JSON, to tell when it changed.
	defJSON string
}

// callable reports whether the tool may be listed and run.
func (e *entry) callable() bool { return e != nil && e.withheld == "" && e.def != nil }

// tenantData is what the store holds, read in one go.
type tenantData struct {
	rev       int64
	tools     []store.Tool
	users     []store.User
	clients   []store.Client
	upstreams []store.Upstream
	// rawArguments is the tenant's audit.raw_arguments setting: tool call
	// arguments go into the trail in full, not only as a digest.
	rawArguments bool
	// callsPerMinute is the tenant's limits.tool_calls_per_minute: the
	// tool calls one caller may make in a minute; 0: no bound.
	callsPerMinute int
	// personCallsPerMinute is limits.tool_calls_per_minute_per_person:
	// the tool calls one person may make in a minute through all agents
	// together; 0: no bound.
	personCallsPerMinute int
	// featurePins are the upstreams' pinned prompts and resource
	// templates (featurepins.go), by upstream.
	featurePins map[string]featurePins
}

// loadTenantTries bounds the reads of loadTenant that a change cuts
// across before it reads under the tenant's lock.
const loadTenantTries = 3

// loadTenant reads the tenant as of one revision. Its tables are read one
// query at a time, and a change may commit between two of them: the tools
// read before an admin's change and the people after it make a tenant that
// neither the change's before nor its after is, and may grant what neither
// does. Every change moves the revision in its own transaction, so a
// revision that reads the same after the tables as before says none
// committed in between; one that moved has the tables read again. Changes
// that keep coming (clients registering) would keep that from ever
// succeeding, and the catalogue from moving on: the last read holds the
// tenant's lock, which every change waits for.
func loadTenant(ctx context.Context, st store.Store) (*tenantData, error) {
	for try := 1; try < loadTenantTries; try++ {
		d, err := readTenant(ctx, st)
		if err != nil {
			return nil, err
		}
		rev, err := st.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("read revision: %w", err)
		}
		if rev == d.rev {
			return d, nil
		}
	}
	var d *tenantData
	err := st.InTx(ctx, func(tx store.Tenant) error {
		if err := tx.Lock(ctx); err != nil {
			return err
		}
		var err error
		d, err = readTenant(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// readTenant is loadTenant's one read of the tenant, at the revision it
// reads first or a later one.
func readTenant(ctx context.Context, st store.Tenant) (*tenantData, error) {
	var d tenantData
	var err error
	if d.rev, err = st.Revision(ctx); err != nil {
		return nil, fmt.Errorf("read revision: %w", err)
	}
	if d.tools, err = st.Tools().List(ctx); err != nil {
		return nil, fmt.Errorf("read tools: %w", err)
	}
	if d.users, err = st.Users().List(ctx); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if d.clients, err = st.Clients().List(ctx); err != nil {
		return nil, fmt.Errorf("read clients: %w", err)
	}
	if d.upstreams, err = st.Upstreams().List(ctx); err != nil {
		return nil, fmt.Errorf("read upstreams: %w", err)
	}
	raw, err := st.Setting(ctx, "audit.raw_arguments")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read audit.raw_arguments: %w", err)
	}
	d.rawArguments = raw == "true"
	d.featurePins = map[string]featurePins{}
	for _, u := range d.upstreams {
		// One upstream's unreadable record withholds that upstream's
		// prompts and templates (nothing approved), not the catalogue.
		if d.featurePins[u.Name], err = readFeaturePins(ctx, st, u.Name); err != nil && !errors.Is(err, ErrNotPins) {
			return nil, err
		}
	}
	if d.callsPerMinute, err = readLimit(ctx, st, store.SettingToolCallsPerMinute); err != nil {
		return nil, err
	}
	if d.personCallsPerMinute, err = readLimit(ctx, st, store.SettingToolCallsPerMinutePerPerson); err != nil {
		return nil, err
	}
	return &d, nil
}

// readLimit reads a limits setting: 0 when unset. Stored by apply, which
// checked it; one that does not read bounds nothing rather than
// everything.
func readLimit(ctx context.Context, st store.Tenant, name string) (int, error) {
	v, err := st.Setting(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n, nil
	}
	return 0, nil
}

// liveDef is an upstream tool's definition as last seen, with its hash
// and the canonical JSON the hash is of.
type liveDef struct {
	tool *mcp.Tool
	hash string
	raw  json.RawMessage
}

// buildCatalogue joins the tenant's data with the upstreams' live tool
// definitions (upstream name → upstream tool name → definition). Rules that
// do not compile are left out (and reported), so that one bad condition
// does not take every tool down; their tools are then denied.
func buildCatalogue(d *tenantData, live map[string]map[string]liveDef) (*catalogue, error) {
	c := &catalogue{
		rev:          d.rev,
		rawArguments: d.rawArguments, callsPerMinute: d.callsPerMinute, personCallsPerMinute: d.personCallsPerMinute,
		tools:     make(map[string]*entry, len(d.tools)),
		users:     make(map[string]store.User, len(d.users)),
		clients:   make(map[string]store.Client, len(d.clients)),
		upstreams: make(map[string]store.Upstream, len(d.upstreams)),
	}
	for _, u := range d.users {
		c.users[u.Username] = u
	}
	for _, cl := range d.clients {
		c.clients[cl.ClientID] = cl
	}
	for _, u := range d.upstreams {
		c.upstreams[u.Name] = u
	}
	var rules []policy.Rule
	var schemaErrs []error
	for _, t := range d.tools {
		e := &entry{tool: t}
		e.def, e.withheld = definition(t, live)
		if e.def != nil && e.withheld == "" && len(t.InputSchema) > 0 {
			var err error
			if e.schema, err = tools.CompileSchema(e.def.InputSchema); err != nil {
				// Fail closed, as for a condition that does not compile:
				// the tool is not offered until the schema is fixed.
				e.withheld = "its input_schema cannot be used: " + err.Error()
				schemaErrs = append(schemaErrs, fmt.Errorf("tool %q: input_schema: %w", t.Name, err))
			} else {
				e.names = tools.SchemaNames(e.def.InputSchema)
			}
		}
		if e.def != nil {
			b, _ := json.Marshal(e.def)
			e.defJSON = string(b)
		}
		c.tools[t.Name] = e
		rules = append(rules, policy.Rule{Tool: t.Name, Roles: t.Roles, When: t.When})
	}
	set, err := policy.Compile(rules)
	var bad error
	if err != nil {
		bad = err
		skip := map[int]bool{}
		var re *policy.RuleError
		for _, e := range unwrapAll(err) {
			if errors.As(e, &re) {
				skip[re.Index] = true
				// Denied as a tool with no rule would be, but the
				// trail says why rather than "unknown tool".
				if en := c.tools[rules[re.Index].Tool]; en != nil && en.withheld == "" {
					en.withheld = "its rule cannot be used: " + re.Err.Error()
					if errors.Is(re.Err, policy.ErrCondition) {
						en.withheld = "its condition does not compile: " + re.Err.Error()
					}
				}
			}
		}
		var good []policy.Rule
		for i, r := range rules {
			if !skip[i] {
				good = append(good, r)
			}
		}
		if set, err = policy.Compile(good); err != nil {
			return nil, fmt.Errorf("compile policy: %w", err)
		}
	}
	c.policy = set
	return c, errors.Join(append([]error{bad}, schemaErrs...)...)
}

// schemaChecks counts the arguments checked against a schema (validate),
// for tests: a refusal must cost what an unknown tool's costs.
var schemaChecks atomic.Int64

// validate checks canonical arguments against the tool's input schema, if
// it has one. The arguments are decoded as the SDK decodes them for its
// own tools (numbers as float64): canonical JSON has no number that
// float64 would round.
func (e *entry) validate(canonical []byte) error {
	if e == nil || e.schema == nil {
		return nil
	}
	schemaChecks.Add(1)
	var v any
	if err := json.Unmarshal(canonical, &v); err != nil {
		return err
	}
	err := e.schema.Validate(v)
	if err != nil {
		// "validating root: validating /properties/x: type: …": the
		// root is implied.
		return &schemaError{msg: strings.TrimPrefix(err.Error(), "validating root: "), rule: schemaRule(err)}
	}
	// The schema matches property names exactly; a backend decoding with
	// encoding/json does not, and would read {"Amount": 5000} as the
	// amount the schema bounds (tools.PropertyNames). The trail's rule
	// names the schema's property, never the caller's key.
	if key, name, found := e.names.Variant(v); found {
		return &schemaError{msg: fmt.Sprintf("argument %q differs only by case from %q, a property of the schema", key, name),
			rule: fmt.Sprintf("property %q spelt in another case", name)}
	}
	return nil
}

// schemaError is arguments that fail a tool's input schema. Its message,
// the validator's, quotes the values that fail: it is for the caller, who
// sent them. rule names only the keyword that failed and where in the
// schema, for the trail.
type schemaError struct {
	msg  string
	rule string
}

func (e *schemaError) Error() string { return e.msg }

// schemaKeywords are the keywords whose failure the validator reports as
// "<keyword>: <what, with the value>".
var schemaKeywords = map[string]bool{
	"type": true, "enum": true, "const": true, "multipleOf": true, "minimum": true, "maximum": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "minLength": true, "maxLength": true,
	"pattern": true, "anyOf": true, "oneOf": true, "not": true, "contains": true, "minContains": true,
	"maxContains": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minProperties": true, "maxProperties": true, "required": true, "dependentRequired": true,
}

// schemaRule says which keyword err, from Validate, failed and where in
// the schema ("maxLength at /properties/card"), without the value. The
// validator wraps its error once per schema it descends into, as
// "validating <the schema's $id or its JSON pointer in the root>: ", words
// of the tenant's schema, never of the arguments; the innermost error
// starts with the keyword, then quotes the value, which is left out. A
// message of another shape leaves the keyword out.
func schemaRule(err error) string {
	where := ""
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			break
		}
		prefix, ok := strings.CutSuffix(err.Error(), ": "+inner.Error())
		loc, ok2 := strings.CutPrefix(prefix, "validating ")
		if !ok || !ok2 {
			break
		}
		where, err = loc, inner
	}
	keyword, _, _ := strings.Cut(err.Error(), ":")
	keyword, _, _ = strings.Cut(keyword, "[") // dependentRequired["a"]
	switch {
	case strings.HasPrefix(err.Error(), "unexpected additional properties"):
		keyword = "additionalProperties"
	case !schemaKeywords[keyword]:
		keyword = "a keyword"
	}
	if where == "" {
		return keyword
	}
	return keyword + " at " + where
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// emptySchema is the input schema of a tool that declares none.
var emptySchema = json.RawMessage(`{"type":"object"}`)

// definition builds what tools/list shows for t, or says why t is withheld.
// The tenant's description and input schema win over the backend's.
func definition(t store.Tool, live map[string]map[string]liveDef) (*mcp.Tool, string) {
	def := &mcp.Tool{Name: t.Name, Description: t.Description}
	var schema json.RawMessage
	switch t.Backend() {
	case "builtin":
		b, ok := tools.Lookup(t.Builtin)
		if !ok {
			return nil, "no built-in tool " + t.Builtin
		}
		if def.Description == "" {
			def.Description = b.Description
		}
		schema = b.InputSchema
	case "upstream":
		name := t.UpstreamTool
		if name == "" {
			name = t.Name
		}
		ld, ok := live[t.Upstream][name]
		if t.Status == store.ToolPending || (ok && t.PinnedHash != "" && ld.hash != t.PinnedHash) {
			return nil, "its definition changed upstream and awaits an admin's approval"
		}
		if !ok || t.PinnedHash == "" {
			return nil, "" // not known yet: not listed, calls fail as unavailable
		}
		up := *ld.tool
		up.Name = t.Name
		up.Meta = nil
		if t.Description != "" {
			up.Description = t.Description
		}
		def = &up
		if b, err := json.Marshal(ld.tool.InputSchema); err == nil {
			schema = b
		}
	case "http":
	default:
		return nil, "no backend"
	}
	if len(t.InputSchema) > 0 {
		schema = t.InputSchema
	}
	if !objectSchema(schema) {
		schema = emptySchema
	}
	def.InputSchema = schema
	return def, ""
}

// objectSchema reports whether schema is a JSON object with type "object",
// as MCP requires of an input schema.
func objectSchema(schema json.RawMessage) bool {
	var m map[string]any
	return json.Unmarshal(schema, &m) == nil && m["type"] == "object"
}

// visible returns the tools p through a may see, sorted: those the policy
// shows them, that are callable now, narrowed by the token's tool scopes.
func (c *catalogue) visible(p policy.Principal, a policy.Agent, scopes toolScopes) []*entry {
	var out []*entry
	for _, name := range c.policy.Visible(p, a) {
		e := c.tools[name]
		if e.callable() && scopes.allows(name) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y *entry) int {
		switch {
		case x.tool.Name < y.tool.Name:
			return -1
		case x.tool.Name > y.tool.Name:
			return 1
		}
		return 0
	})
	return out
}
