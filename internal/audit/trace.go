package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/internal/store"
)

// traceScan bounds how many earlier token records of the person (or agent)
// Trace reads back looking for the token's issuance. A token is issued
// minutes before its calls (it lives no longer), so it is found early.
const traceScan = 10_000

// maxTraced bounds the records of one correlation Trace gathers.
const maxTraced = 100_000

// ErrTraceTooLong: a correlation has more records than Trace gathers.
var ErrTraceTooLong = errors.New("trace too long")

// Trace returns the whole story of one tool call (or any correlation),
// oldest first: the sign-in of the login session its token came from
// (login.succeeded), that token's issuance (token.issued, .refreshed or
// .exchanged: the record naming the call's token ID), and every record of
// the correlation (decision → slip → redemption → result). What the trail
// does not hold is left out: a token from client_credentials has no
// sign-in, and retention may have pruned an old login. An unknown
// correlation has no entries.
//
// The call's records are found by the correlation index; the token by
// reading the person's (or, for a token without one, the agent's) earlier
// token records backwards, newest first, at most traceScan; the sign-in by
// its session, however long before.
func (l *Log) Trace(ctx context.Context, correlation string) ([]Entry, error) {
	if correlation == "" {
		return nil, nil
	}
	// Every record of the correlation, page after page: a call whose
	// upstream asked many questions has a tool.input for each answer, and
	// its tool.result comes last. Bounded, and said when the bound is met.
	var out []Entry
	for f := (Filter{Correlation: correlation, Limit: 1000}); ; {
		p, err := l.Query(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Entries...)
		if p.Next == 0 {
			break
		}
		if len(out) >= maxTraced {
			return nil, fmt.Errorf("%w: the correlation has more than %d records; export them with the correlation filter", ErrTraceTooLong, maxTraced)
		}
		f.After = p.Next
	}
	if len(out) == 0 {
		return nil, nil
	}
	first := out[0]
	var origin *Event
	for i := range out {
		if e := &out[i].Event; e.TokenID != "" || e.Session != "" {
			origin = e
			break
		}
	}
	if origin == nil {
		return out, nil
	}
	// The records before the call that may start it: the person's, or
	// for a machine token, its agent's. A machine token's subject is its
	// client: the gateway names it as the call's actor, while the token's
	// issuance names it only as agent (no person, no session).
	base := store.AuditFilter{Before: first.Seq, Desc: true, Limit: 500,
		Types: []string{TokenIssued, TokenRefreshed, TokenExchanged}}
	if machine := origin.Session == "" && origin.Actor == origin.Agent; origin.Actor != "" && !machine {
		base.Actor = indexValue(origin.Actor)
	} else {
		base.Agent = indexValue(origin.Agent)
	}
	var token, login *Entry
	for read := 0; origin.TokenID != "" && read < traceScan; {
		recs, err := l.st.AuditRecords(ctx, base)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			e := toEntry(r)
			if e.Event.TokenID == origin.TokenID {
				token = &e
				break
			}
		}
		read += len(recs)
		if token != nil || len(recs) < base.Limit {
			break
		}
		base.Before = recs[len(recs)-1].Seq
	}
	// The sign-in is asked for by its session, however far back: a grant
	// with offline_access outlives it by up to 90 days, its agents
	// refreshing every few minutes all along, so that many more than
	// traceScan of the person's token records may lie between the two.
	// A session is one sign-in's: its login.succeeded is the only one.
	if origin.Session != "" {
		f := store.AuditFilter{Before: first.Seq, Desc: true, Limit: 1, Types: []string{LoginSucceeded},
			Actor: base.Actor, Session: indexValue(origin.Session)}
		recs, err := l.st.AuditRecords(ctx, f)
		if err != nil {
			return nil, err
		}
		if len(recs) == 1 {
			if e := toEntry(recs[0]); e.Event.Session == origin.Session && e.Event.Type == LoginSucceeded {
				login = &e
			}
		}
	}
	for _, e := range []*Entry{token, login} {
		if e != nil {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// SlipOrigin returns the login session and the token ID of the call that
// minted slip slipID, whose correlation is correlation: from its
// slip.minted record. An API that redeems a slip by introspection does so
// far from the call (another request, maybe another replica), and the
// slip does not carry them (it goes to the API); the trail does, so that
// the redemption's record joins its session's and its token's. Empty when
// the trail holds no such slip (pruned, or never minted here).
func (l *Log) SlipOrigin(ctx context.Context, correlation, slipID string) (session, token string, err error) {
	if correlation == "" || slipID == "" {
		return "", "", nil
	}
	p, err := l.Query(ctx, Filter{Correlation: correlation, Types: []string{SlipMinted}, Limit: 100})
	if err != nil {
		return "", "", err
	}
	for _, e := range p.Entries {
		if e.Event.SlipID == slipID {
			return e.Event.Session, e.Event.TokenID, nil
		}
	}
	return "", "", nil
}
