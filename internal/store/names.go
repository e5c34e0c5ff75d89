package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/internal/casefold"
)

// Names that differ only in case ("alice" and "Alice", "send_email" and
// "Send_Email") are one name to whoever reads them: the CLI's lists, the
// audit trail, an agent's tool list show two principals, or two tools
// granted apart, told apart by the case of a letter. The tenant file
// refuses two such names within itself; NameFree refuses a new one
// against the whole tenant, for every way a record is made (a tenant
// file, the admin commands, a federated sign-in). A person and a client
// cannot share a name, but for case either: a client's own token has the
// client as its subject, as a person's has the person.
//
// Only new names are refused: a tenant that holds two such names from
// before keeps them, and both keep working (sign-ins match a username
// exactly). Names are folded as strings.EqualFold folds them
// (casefold.Key): the names of files and commands are ASCII, a federated
// one (and a client ID that is a URL) may not be. The store keeps each
// record's name so folded, by Go, and NameFree looks a name up by it
// through an index (Tenant.NamesEqualFold): SQL's lower() would fold
// otherwise beyond ASCII, and differently on each engine.

// Names indexes the names of a tenant's records by their folded form,
// kind by kind ("user", "client", "tool", "role", "upstream"), for
// NameFree's check of many names at once (a tenant file's). Read it in
// the transaction that makes the records, holding the tenant's lock
// (Tenant.Lock), so that two transactions cannot both find a name free.
type Names map[string]map[string][]string

// ReadNames reads the names of t's records of kinds (every kind when none
// is given).
func ReadNames(ctx context.Context, t Tenant, kinds ...string) (Names, error) {
	if len(kinds) == 0 {
		kinds = []string{"user", "client", "tool", "role", "upstream"}
	}
	n := Names{}
	for _, k := range kinds {
		var (
			names []string
			err   error
		)
		switch k {
		case "user":
			names, err = keys(ctx, t.Users(), func(u User) string { return u.Username })
		case "client":
			names, err = keys(ctx, t.Clients(), func(c Client) string { return c.ClientID })
		case "tool":
			names, err = keys(ctx, t.Tools(), func(t Tool) string { return t.Name })
		case "role":
			names, err = keys(ctx, t.Roles(), func(r Role) string { return r.Name })
		case "upstream":
			names, err = keys(ctx, t.Upstreams(), func(u Upstream) string { return u.Name })
		default:
			return nil, fmt.Errorf("unknown kind of name %s", k)
		}
		if err != nil {
			return nil, err
		}
		n[k] = map[string][]string{}
		for _, name := range names {
			n.Add(k, name)
		}
	}
	return n, nil
}

// Add indexes name as a record of kind: one a caller read otherwise than
// through ReadNames (the tools it listed already), or made since.
func (n Names) Add(kind, name string) {
	m := n[kind]
	if m == nil {
		m = map[string][]string{}
		n[kind] = m
	}
	f := casefold.Key(name)
	m[f] = append(m[f], name)
}

// ErrNameTaken is what Free's and NameFree's refusals of a name are
// (errors.Is), to tell them from a failure to read the names.
var ErrNameTaken = errors.New("the tenant has the name but for case")

type nameTaken string

func (e nameTaken) Error() string        { return string(e) }
func (e nameTaken) Is(target error) bool { return target == ErrNameTaken }

func keys[T any](ctx context.Context, c Collection[T], key func(T) string) ([]string, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(all))
	for i, v := range all {
		out[i] = key(v)
	}
	return out, nil
}

// Has reports whether a record of kind has name, exactly.
func (n Names) Has(kind, name string) bool {
	return slices.Contains(n[kind][casefold.Key(name)], name)
}

// principals: the kind a person's or a client's name must not be, by any
// spelling.
var principals = map[string]string{"user": "client", "client": "user"}

// Free refuses name for a new record of kind: when a record of its kind
// has it but for case (the same name exactly is the record itself, or
// Create's ErrConflict), or, for a user or a client, the other kind has it
// by any spelling. The refusal names the stored spelling, and is
// ErrNameTaken. n must hold the kinds checked (ReadNames, Add).
func (n Names) Free(kind, name string) error {
	f := casefold.Key(name)
	for _, s := range n[kind][f] {
		if s != name {
			return nameTaken(fmt.Sprintf("%s %q differs only in case from %s %q, which the tenant has: names differing only in case read as one name (choose another name)",
				kind, name, kind, s))
		}
	}
	if other, ok := principals[kind]; ok {
		held := n[other][f]
		if slices.Contains(held, name) {
			return nameTaken(fmt.Sprintf("%q is a %s: a person and a client cannot share a name", name, other))
		}
		if len(held) > 0 {
			return nameTaken(fmt.Sprintf("%q is the %s %q but for case: a person and a client cannot share a name", name, other, held[0]))
		}
	}
	return nil
}

// NameFree is Names.Free for one new name of kind, on the names t holds
// now. Call it in the transaction that makes the record, after
// Tenant.Lock. It reads only the names equal to name but for case
// (Tenant.NamesEqualFold, an indexed lookup), not every name of the
// kinds: it runs on every first federated sign-in, under the lock.
func NameFree(ctx context.Context, t Tenant, kind, name string) error {
	kinds := []string{kind}
	if other, ok := principals[kind]; ok {
		kinds = append(kinds, other)
	}
	n := Names{}
	f := casefold.Key(name)
	for _, k := range kinds {
		names, err := t.NamesEqualFold(ctx, k, name)
		if err != nil {
			return err
		}
		n[k] = map[string][]string{f: names}
	}
	return n.Free(kind, name)
}
