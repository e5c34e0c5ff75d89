package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy names found in [Decision.Policy] besides "tool:<name>".
const (
	// PolicyDefaultDeny decided when no rule lets the call through: the
	// tool is unknown or no role of the principal is granted it.
	PolicyDefaultDeny = "default-deny"
	// PolicyAgentCap decided when the person may call the tool but the
	// agent's own tool cap excludes it.
	PolicyAgentCap = "agent-cap"
)

// RoleAdmin is the built-in role that runs the dashboard. It is granted no
// tool unless a rule names it.
const RoleAdmin = "admin"

// Principal is the person on whose behalf the call is made.
type Principal struct {
	Subject    string            // stable user id (username)
	Roles      []string          // roles held by the person
	Attributes map[string]string // from the tenant file, e.g. region: emea
}

// Agent is the OAuth client (AI agent) making the call: the client
// presenting the token and, when it holds the token through a delegation
// (an RFC 8693 token exchange), the clients it acts through.
type Agent struct {
	ClientID string   // the client presenting the token
	Kind     string   // agent | web | native | service
	Tools    []string // the agent's own cap; nil = no cap; empty non-nil = may call nothing
	// Chain is the delegation chain (RFC 8693 act) as client IDs,
	// outermost (normally ClientID itself) first; empty when there is
	// none. A condition sees it, with ClientID, as the set
	// context.agent.chain.
	Chain []string
}

// Rule is one catalogue entry: tool name, the roles granted it, an optional
// Cedar condition.
type Rule struct {
	Tool  string
	Roles []string
	When  string // Cedar condition expression, e.g. `context.args.amount <= 50`; "" = none
}

// Request is one tools/call to decide.
type Request struct {
	Principal Principal
	Agent     Agent
	Tool      string
	Args      map[string]any // decoded JSON arguments (json.Number or float64 for numbers)
}

// Decision is the answer to a Request, with what decided it and why.
type Decision struct {
	Allow   bool
	Policy  string   // which rule decided: "tool:<name>", PolicyAgentCap or PolicyDefaultDeny
	Reasons []string // human-readable, in the order they were established
}

// RuleError reports one rule that Compile refused. Compile joins every
// RuleError it finds (see errors.Join); use errors.As to inspect them.
type RuleError struct {
	Index int    // position of the rule in the slice given to Compile
	Tool  string // the rule's tool name, possibly empty
	Err   error
}

// Error names the rule by its tool, or by its index when it has no tool name.
func (e *RuleError) Error() string {
	if e.Tool == "" {
		return fmt.Sprintf("rule %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("tool %q: %v", e.Tool, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, ErrCondition) works.
func (e *RuleError) Unwrap() error { return e.Err }

// Set is a compiled rule catalogue. It is immutable and safe for concurrent
// use by many goroutines.
type Set struct {
	rules  map[string]*rule    // tool name → rule
	byRole map[string][]string // role → tools granted to it
}

type rule struct {
	tool   string
	policy string            // "tool:<name>"
	roles  map[string]string // roles granted the tool → the reason saying so
	cond   *condition        // nil when the rule has none
}

// Compile checks every rule and builds the indexes Decide and Visible use.
// It reports all bad rules at once, each as a *RuleError naming its tool: an
// empty or duplicate tool name, an empty role name, or a condition that is
// not exactly one Cedar expression.
func Compile(rules []Rule) (*Set, error) {
	s := &Set{
		rules:  make(map[string]*rule, len(rules)),
		byRole: make(map[string][]string),
	}
	var errs []error
	fail := func(i int, r Rule, err error) {
		errs = append(errs, &RuleError{Index: i, Tool: r.Tool, Err: err})
	}
	for i, r := range rules {
		if r.Tool == "" {
			fail(i, r, errors.New("empty tool name"))
			continue
		}
		if _, dup := s.rules[r.Tool]; dup {
			fail(i, r, errors.New("tool listed more than once"))
			continue
		}
		cr := &rule{
			tool:   r.Tool,
			policy: "tool:" + r.Tool,
			roles:  make(map[string]string, len(r.Roles)),
		}
		ok := true
		for _, role := range r.Roles {
			if strings.TrimSpace(role) == "" {
				fail(i, r, errors.New("empty role name"))
				ok = false
				continue
			}
			cr.roles[role] = "role " + role + " is granted " + r.Tool
		}
		if strings.TrimSpace(r.When) != "" {
			c, err := compileCondition(r.When)
			if err != nil {
				fail(i, r, err)
				ok = false
			}
			cr.cond = c
		}
		// Index even a broken rule so a duplicate after it is still reported.
		s.rules[r.Tool] = cr
		if !ok {
			continue
		}
		for role := range cr.roles {
			s.byRole[role] = append(s.byRole[role], r.Tool)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Decide answers whether r.Principal, through r.Agent, may call r.Tool with
// r.Args. It denies unless a rule grants the tool to one of the principal's
// roles, the agent's cap (if any) includes the tool, and the rule's condition
// (if any) evaluates to true. A condition that reads the arguments also
// denies when a key of theirs, at any depth, differs only by case from a
// name it reads (see casefold.go).
func (s *Set) Decide(r Request) Decision {
	ru, ok := s.rules[r.Tool]
	if !ok {
		return Decision{Policy: PolicyDefaultDeny, Reasons: []string{"unknown tool"}}
	}
	granted := ""
	for _, role := range r.Principal.Roles {
		if why, ok := ru.roles[role]; ok {
			granted = why
			break
		}
	}
	capped := r.Agent.Tools != nil && !slices.Contains(r.Agent.Tools, r.Tool)
	switch {
	case granted == "" && capped:
		return Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of " + r.Principal.Subject + " is granted " + r.Tool, capReason(r.Agent, r.Tool)}}
	case granted == "":
		return Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of " + r.Principal.Subject + " is granted " + r.Tool}}
	case capped:
		return Decision{Policy: PolicyAgentCap, Reasons: []string{granted, capReason(r.Agent, r.Tool)}}
	case ru.cond == nil:
		return Decision{Allow: true, Policy: ru.policy, Reasons: []string{granted}}
	}
	if why := ru.cond.caseVariant(r.Args); why != "" {
		return Decision{Policy: ru.policy, Reasons: []string{granted, why}}
	}
	allow, why := ru.cond.eval(r.Principal, r.Agent, r.Tool, r.Args)
	if ru.cond.usesAgent {
		why += chainNote(r.Agent)
	}
	return Decision{Allow: allow, Policy: ru.policy, Reasons: []string{granted, why}}
}

// Conditional reports whether the rule of tool has a condition: Decide
// reads a Request's Args for tool only then.
func (s *Set) Conditional(tool string) bool {
	ru, ok := s.rules[tool]
	return ok && ru.cond != nil
}

// capReason says whose cap excludes tool: the agent's, or for an agent
// acting through others (Chain) the caps of them all, which Tools holds
// narrowed into one: the agent itself may have none.
func capReason(a Agent, tool string) string {
	through := actsThrough(a)
	if len(through) == 0 {
		return "agent " + a.ClientID + "'s tool cap excludes " + tool
	}
	return "the tool caps of agent " + a.ClientID + " and of " + strings.Join(through, ", ") + ", which it acts through, exclude " + tool
}

// actsThrough returns the clients of a's chain other than a itself, each
// once, outermost first.
func actsThrough(a Agent) []string {
	var through []string
	for _, id := range a.Chain {
		if id != a.ClientID && !slices.Contains(through, id) {
			through = append(through, id)
		}
	}
	return through
}

// delegated reports whether a acts through another client: a client that
// exchanged a token of its own acts through nobody.
func delegated(a Agent) bool { return actsForOther(a.ClientID, a.Chain) }

// actsForOther reports whether chain names a client other than client.
func actsForOther(client string, chain []string) bool {
	for _, id := range chain {
		if id != client {
			return true
		}
	}
	return false
}

// chainNote is what the reason of a condition that reads context.agent
// adds for a delegated call: the agent and whom it acts through, so that
// the trail says through whom a rule about "the agent" decided. It is ""
// (and costs nothing) when the call is not delegated.
func chainNote(a Agent) string {
	if !delegated(a) {
		return ""
	}
	return " for agent " + a.ClientID + " acting through " + strings.Join(actsThrough(a), ", ")
}

// Visible returns, sorted, the tools p through a could call: granted to one
// of p's roles, inside a's cap, and whose condition is not false whatever the
// arguments. A condition that does not depend on context.args is evaluated
// (an error hides the tool, as Decide would deny it). One that does is
// treated as possibly true, unless the operands of its top-level && that do
// not read context.args (e.g. principal.region == "emea" in
// `principal.region == "emea" && context.args.amount <= 50`) are not true:
// then no arguments can make it true and the tool is hidden. Visible
// returns nil when no tool qualifies.
func (s *Set) Visible(p Principal, a Agent) []string {
	var capSet map[string]struct{}
	if a.Tools != nil {
		capSet = make(map[string]struct{}, len(a.Tools))
		for _, t := range a.Tools {
			capSet[t] = struct{}{}
		}
	}
	seen := make(map[string]struct{})
	var out []string
	for _, role := range p.Roles {
		for _, tool := range s.byRole[role] {
			if _, dup := seen[tool]; dup {
				continue
			}
			seen[tool] = struct{}{}
			if capSet != nil {
				if _, in := capSet[tool]; !in {
					continue
				}
			}
			if c := s.rules[tool].cond; c != nil && !c.possible(p, a, tool) {
				continue
			}
			out = append(out, tool)
		}
	}
	slices.Sort(out)
	return out
}

// Tools returns, sorted, the names of every tool in the catalogue.
func (s *Set) Tools() []string {
	out := make([]string, 0, len(s.rules))
	for t := range s.rules {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
