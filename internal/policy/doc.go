// Package policy decides whether a person (the principal), through an AI
// agent (an OAuth client), may call one tool with given arguments.
//
// The tool catalogue is the permission catalogue: each [Rule] names a tool,
// the roles granted it and an optional condition in Cedar syntax. [Compile]
// turns the rules into an immutable [Set]; [Set.Decide] answers one call and
// [Set.Visible] lists the tools worth showing in an MCP tools/list answer.
//
// Every [Decision] carries the rule that decided it and human-readable
// reasons, so that the audit trail can say why a call was let through or
// refused. The decision is deny by default, in this order:
//
//   - a tool with no rule is denied ("unknown tool");
//   - a principal with no role granted the tool is denied; the built-in
//     role "admin" runs the dashboard and has no implicit tool access;
//   - an agent whose tool cap does not list the tool is denied: the cap
//     narrows the person's grant, it never widens it;
//   - a condition that reads the arguments denies them when a key of
//     theirs, at any depth, is not a name the condition reads but equals
//     one under Unicode simple case folding ("Force" for force), as a
//     case-insensitive decoder such as encoding/json would read it;
//   - a condition that is false, or that cannot be evaluated (a missing
//     attribute, a type error, arguments that have no faithful Cedar form),
//     denies. An error never allows.
//
// Conditions are evaluated by cedar-go, as the body of
//
//	permit (principal, action, resource) when { <condition> };
//
// with principal User::"<subject>" (its attributes are the person's
// attributes as strings, plus "roles" as a set of strings, which always
// wins over an attribute of that name), action Action::"call", resource
// Tool::"<tool>" and context {args: <the arguments>, agent: {client_id,
// kind, chain, delegated}}. client_id and kind are the presenting
// client's ([Agent.ClientID]) only, whatever it acts through; chain is the
// set of client IDs the call passes through, that client's and those of
// its delegation chain ([Agent.Chain]; a set, so neither order nor
// repeats show), and delegated whether chain names another client. A
// condition's reason for a delegated call, when the condition reads
// context.agent, names the clients it acts through. JSON integers become Long, other numbers decimal (at most four
// decimal places, else the call is refused), arrays sets, objects records,
// and null the entity Null::"" (in records and sets alike: a member whose
// value is null is there for `has`, equals no string, number or boolean,
// and is an error to order or add; `context.args.x == Null::""` tests for
// it). Note that Cedar's < and <= accept Long only: a condition
// `context.args.amount <= 50` errors, and so denies, when amount is 12.5.
//
// Strings, in the arguments and in the person's attributes alike, are
// compared as they are, code point by code point: no Unicode
// normalization, no case folding, no removal of invisible characters. The
// gateway passes the tool the very string compared, so an allow-list
// condition (`==`, `like "em*"`, `["emea", "amer"].contains(…)`) is not
// passed by a string that only looks like an allowed one ("EMEA", "emea"
// with a zero-width space, "e" and a combining accent for "é"). A
// deny-list condition (`context.args.account != "admin"`) is passed by
// every such string, and by a list or null in place of the string: a
// backend that folds case or normalizes would then act on "admin". Write
// conditions as allow-lists, or have the tool's input_schema pin the
// argument's form.
//
// This package must never do I/O (no files, network, clock or logging), never
// keep mutable state after Compile (a Set is safe for concurrent use), and
// never import another gatehouse package: it is a pure function of its
// inputs, so the gateway, the admin dashboard and tests can share it.
package policy
